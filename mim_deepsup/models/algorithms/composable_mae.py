"""MAE whose loss is composed of named supervision components."""
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
    the losses and gradients are MAE's, bit for bit.

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

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._setup_supervisions(supervisions, teacher)
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices must be [-1] when a component reads '
                             f'the teacher\'s final tokens, got {self.backbone.out_indices}')

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
        losses = dict(loss=self.head.loss(pred, target, state.mask))
        return self.add_component_losses(losses, state)
