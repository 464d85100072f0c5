"""BEiT (v1/v2) whose loss is extended by named supervision components."""
from contextlib import contextmanager
from typing import Dict, List, Optional

import torch
from mmpretrain.models import BEiT
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import MIMState
from .supervisions_mixin import SupervisionsMixin


@contextmanager
def _recording_output(module):
    """Within the block, ``out['value']`` is the module's latest output."""
    out = {}
    handle = module.register_forward_hook(lambda m, args, output: out.update(value=output))
    try:
        yield out
    finally:
        handle.remove()


@MODELS.register_module()
class ComposableBEiT(SupervisionsMixin, BEiT):
    """mmpretrain's :class:`BEiT` (with BEiT-v2's neck and VQ-KD tokenizer) plus components.

    mmpretrain's own ``BEiT.loss`` runs unchanged (so its ``loss_1``/``loss_2`` are BEiT-v2's
    exactly); during it the backbone records the blocks the components asked for and the
    tokenizer's codes are kept, then every component adds its terms from the shared state:
    ``state.taps`` (B, 1 + N, C), ``state.target`` (B, N) codes, ``state.mask`` (B, N)
    float, 1 = masked (BEiT's block-wise mask), ``state.inputs`` the student's images.

    When a component reads the EMA teacher, the teacher's backbone runs once per step on
    the unmasked images: ``state.teacher_tokens`` (B, 1 + N, C) is its last block's output
    (BEiT-v2's backbone has no final norm; its neck normalises).

    Args:
        backbone (dict): a ``TappedBEiTPretrainViT``.
        supervisions (dict[str, dict], optional): extra components by name.
        teacher (dict, optional): an :class:`EMATeacher` config, as for ``ComposableMAE``.
        **kwargs: the rest of :class:`BEiT`'s arguments.
    """

    tap_layout = 'all'

    def __init__(self, backbone: dict, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, **kwargs) -> None:
        super().__init__(backbone=backbone, **kwargs)
        if self.with_target_generator:
            # the tokenizer gives codes under no_grad (its codebook follows its own
            # all-reduced EMA): without requires_grad, DDP needs no find_unused_parameters
            self.target_generator.requires_grad_(False)
        self._setup_supervisions(supervisions, teacher)
        if self.num_views > 1:
            raise ValueError('model.supervisions: ComposableBEiT encodes one view of each '
                             'image; a component reading several needs ComposableMAE')
        grid = getattr(self.head, 'grid', None)
        if grid is not None and grid != self.backbone.facts()['patch_grid']:
            raise ValueError(f'model.head.grid: expected the backbone\'s patch grid '
                             f'{self.backbone.facts()["patch_grid"]} (image size / patch '
                             f'size), got {grid}')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes and the codebook size ``num_embed`` of BEiT-v2's head."""
        num_embed = getattr(getattr(self.head, 'cls_head', None), 'out_features', None)
        return dict(super().component_defaults(), num_embed=num_embed)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        with self.backbone.recording(self.taps) as taps, \
                _recording_output(self.target_generator) as codes:
            losses = super().loss(inputs, data_samples, **kwargs)
        mask = torch.stack([sample.mask for sample in data_samples])  # (B, h, w) bool
        state = MIMState(inputs=inputs[0], latent=None, mask=mask.flatten(1).float(),
                         ids_restore=None, taps=taps, target=codes['value'],
                         progress=self.progress, data_samples=data_samples)
        if self.needs_teacher:
            with torch.no_grad():
                # (B, 1 + N, C): the last block's output on the unmasked images
                state.teacher_tokens = self.teacher['backbone'](inputs[0], mask=None)[-1]
        return self.add_component_losses(losses, state)
