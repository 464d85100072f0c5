"""BEiT-v2 (its neck, VQ-KD tokenizer and two terms) with supervision components."""
from typing import Dict, List

import torch
from mmpretrain.models import BEiT
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..core.composable import ComposableMixin
from ..core.head_loss import call_head_loss


@MODELS.register_module()
class ComposableBEiT(ComposableMixin, BEiT):
    """mmpretrain's :class:`BEiT` with BEiT-v2's neck and VQ-KD tokenizer, plus components.

    The step is BEiT-v2's, written forward: the backbone's masked pass on ``inputs[0]``
    (recording the blocks the components asked for), the tokenizer's codes of
    ``inputs[1]``, the neck, then the head's ``loss_1``/``loss_2`` exactly as
    ``BEiT.loss``; every component adds its terms from the shared state: ``state.taps``
    (B, 1 + N, C), ``state.target`` (B, N) codes, ``state.mask`` (B, N) float, 1 = masked
    (BEiT's block-wise mask), ``state.inputs`` the student's images.

    When a component reads the EMA teacher, the teacher's backbone runs once per step on
    the unmasked images: ``state.teacher_tokens`` (B, 1 + N, C) is its last block's output
    (BEiT-v2's backbone has no final norm; its neck normalises).

    Args:
        backbone (dict): a ``TappedBEiTPretrainViT``.
        **kwargs: ``supervisions`` and ``teacher`` (:class:`ComposableMixin`'s), and the
            rest of :class:`BEiT`'s arguments (a neck is required: BEiT-v2).
    """

    tap_layout = 'all'
    component_layouts = (None, 'all')
    own_losses = ('loss_1', 'loss_2')

    def check_parts(self) -> None:
        """BEiT-v2's neck; a tokenizer without gradients."""
        if not self.with_neck:
            raise ValueError('model.neck: ComposableBEiT is BEiT-v2 (its neck and two '
                             'terms); BEiT v1 has no neck')
        if self.with_target_generator:
            # the tokenizer gives codes under no_grad (its codebook follows its own
            # all-reduced EMA): without requires_grad, DDP needs no find_unused_parameters
            self.target_generator.requires_grad_(False)

    def check_components(self) -> None:
        """One view of each image."""
        if self.num_views > 1:
            raise ValueError('model.supervisions: ComposableBEiT encodes one view of each '
                             'image; a component reading several needs ComposableMAE')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes and the codebook size ``num_embed`` of BEiT-v2's head."""
        num_embed = getattr(getattr(self.head, 'cls_head', None), 'out_features', None)
        return dict(super().component_defaults(), num_embed=num_embed)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        mask = torch.stack([sample.mask for sample in data_samples])  # (B, h, w) bool
        latent, taps = self.backbone.forward_taps(inputs[0], self.taps, mask=mask)
        with torch.no_grad():
            codes = self.target_generator(inputs[1]).detach()  # (B, N) the tokenizer's
        state = self.new_state(inputs[0], mask.flatten(1).float(), data_samples, taps=taps,
                               target=codes)
        if self.needs_teacher:  # (B, 1 + N, C): the last block's output, unmasked images
            state.teacher_tokens = self.teacher_tokens(inputs[0])
        feats, feats_cls_pt = self.neck(latent, rel_pos_bias=self.backbone.shared_rel_pos_bias)
        loss_1, loss_2 = call_head_loss(self.head, self.head.loss, feats, feats_cls_pt, codes,
                                        mask, state=state)
        return self.add_component_losses(dict(loss_1=loss_1, loss_2=loss_2), state)
