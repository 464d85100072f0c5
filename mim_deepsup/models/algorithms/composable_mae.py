"""MAE whose loss is composed of named supervision components."""
import copy
from typing import Dict, List, Optional

import torch
from mmpretrain.models import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import MIMState
from .supervisions_mixin import SupervisionsMixin


@MODELS.register_module()
class ComposableMAE(SupervisionsMixin, MAE):
    """mmpretrain's :class:`MAE` plus any number of extra supervision components.

    One step (../shared/DESIGN.md): the student's masked pass runs once and records the
    block outputs every component asked for; the EMA teacher's unmasked pass runs once if
    any component needs it; MAE's decoder (``neck``) and pixel head (``head``) give the
    ``loss`` term exactly as in MAE; each component adds its named terms. With no component
    the losses and gradients are MAE's, bit for bit. With components, MAE's term is named
    ``loss_mim``, so that mmengine's logged ``loss`` is the optimised total.

    Args:
        backbone (dict): a backbone with ``forward_taps`` (e.g. ``TappedMAEViT``).
        neck (dict): MAE's decoder, e.g. ``MAEPretrainDecoder``.
        head (dict): MAE's head, e.g. ``MAEPretrainHead``.
        supervisions (dict[str, dict], optional): extra components by name; each builds a
            :class:`BaseSupervision`. A component named ``aux6`` that returns
            ``{'loss': x}`` is logged as ``loss_aux6``, ``{'loss_bc': y}`` as
            ``loss_aux6_bc``.
        teacher (dict, optional): an :class:`EMATeacher` config (``sources``, momenta).
            Built when given, or with its defaults when a component needs a teacher.
        target_generator (dict, optional): mmpretrain's argument: a frozen module whose
            output on the images (e.g. (B, N, D) CLIP features) is the target of the final
            decoder, ``head.loss(pred, target, mask)`` as in mmpretrain's MILAN, instead of
            the images. Run once per step without gradient and shared with the components
            as ``state.target``.
        **kwargs: the rest of :class:`MAE`'s arguments.
    """

    tap_layout = 'visible'

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._head_cfg = copy.deepcopy(head)
        self._check_target_generator()
        self._setup_supervisions(supervisions, teacher)
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices must be [-1] when a component reads '
                             f'the teacher\'s final tokens, got {self.backbone.out_indices}')

    def _check_target_generator(self) -> None:
        """A target generator's patch grid and width must fit the backbone and decoder."""
        generator = self.target_generator if self.with_target_generator else None
        num_patches = getattr(generator, 'num_patches', None)
        if num_patches is not None and num_patches != self.backbone.facts()['num_patches']:
            raise ValueError(f'model.target_generator: its patch grid has {num_patches} '
                             f'patches, the backbone\'s {self.backbone.facts()["num_patches"]}; '
                             f'they must match (image size / patch size)')
        channels = getattr(generator, 'out_channels', None)
        pred = getattr(getattr(self.neck, 'decoder_pred', None), 'out_features', None)
        if channels is not None and pred is not None and channels != pred:
            raise ValueError(f'model.neck.predict_feature_dim: the decoder predicts {pred} '
                             f'values per patch, the target generator gives {channels}')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes, MAE's head config and the target generator's width."""
        generator = self.target_generator if self.with_target_generator else None
        return dict(super().component_defaults(), head=copy.deepcopy(self._head_cfg),
                    target_channels=getattr(generator, 'out_channels', None))

    def compute_state(self, inputs: torch.Tensor, data_samples=None) -> MIMState:
        """The student's masked pass (once) and, if asked for, the teacher's pass (once)."""
        (latent, mask, ids_restore), taps = self.backbone.forward_taps(inputs, self.taps)
        state = MIMState(inputs=inputs, latent=latent, mask=mask, ids_restore=ids_restore,
                         taps=taps, progress=self.progress, data_samples=data_samples)
        if self.with_target_generator:
            with torch.no_grad():
                state.target = self.target_generator(inputs)
        if self.needs_teacher:
            with torch.no_grad():
                # (B, 1 + N, C): final-normed tokens of the unmasked images
                state.teacher_tokens = self.teacher['backbone'](inputs, mask=None)[0]
        return state

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        state = self.compute_state(inputs, data_samples)
        pred = self.neck(state.latent, state.ids_restore)  # (B, N, p*p*3)
        target = inputs if state.target is None else state.target
        # MAE's own key without components; with them mmengine's `loss` is the total
        key = 'loss_mim' if self.supervisions else 'loss'
        losses = {key: self.head.loss(pred, target, state.mask)}
        return self.add_component_losses(losses, state)
