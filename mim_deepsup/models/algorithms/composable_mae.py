"""MAE whose loss is composed of named supervision components."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..utils import BaseSupervision, MIMState


@MODELS.register_module()
class ComposableMAE(MAE):
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
        if not hasattr(self.backbone, 'forward_taps'):
            raise TypeError(f'model.backbone: {type(self.backbone).__name__} has no '
                            f'forward_taps; use TappedMAEViT (or a TapsMixin backbone)')
        supervisions = supervisions or {}
        if not isinstance(supervisions, dict):
            raise TypeError(f'model.supervisions must be a dict of name -> component config, '
                            f'got {type(supervisions).__name__}')
        self.supervisions = nn.ModuleDict()
        for name, cfg in supervisions.items():
            if 'loss' in name:
                raise ValueError(f'model.supervisions.{name}: a component name may not '
                                 f'contain "loss" (mmengine would sum its logged values)')
            component = MODELS.build(cfg) if isinstance(cfg, dict) else cfg
            if not isinstance(component, BaseSupervision):
                raise TypeError(f'model.supervisions.{name}: {type(component).__name__} is not '
                                f'a BaseSupervision')
            self.supervisions[name] = component
        self.taps = self.backbone.check_taps(
            [b for c in self.supervisions.values() for b in c.required_taps],
            key='model.supervisions[*].required_taps')
        self.needs_teacher = any(c.needs_teacher for c in self.supervisions.values())
        if teacher is None and self.needs_teacher:
            teacher = dict(type='EMATeacher')
        self.teacher = None
        if teacher is not None:
            self.teacher = MODELS.build(teacher, default_args=dict(student=self))
            if self.needs_teacher and 'backbone' not in self.teacher.sources:
                raise ValueError(f'model.teacher.sources must include "backbone" (a component '
                                 f'reads the teacher\'s tokens), got {self.teacher.sources}')
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices must be [-1] when a component reads '
                             f'the teacher\'s final tokens, got {self.backbone.out_indices}')
        self.progress = 0.0

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy."""
        super().init_weights()
        if self.teacher is not None:
            self.teacher.reset(self)

    def set_progress(self, progress: float) -> None:
        """Called by :class:`TrainingProgressHook` before each iteration."""
        self.progress = progress

    def update_teacher(self, progress: float) -> None:
        """Called by :class:`EMATeacherHook` after each optimizer step."""
        if self.teacher is not None:
            self.teacher.update(self, progress)

    def compute_state(self, inputs: torch.Tensor, data_samples=None) -> MIMState:
        """The student's masked pass (once) and, if asked for, the teacher's pass (once)."""
        (latent, mask, ids_restore), taps = self.backbone.forward_taps(inputs, self.taps)
        state = MIMState(inputs=inputs, latent=latent, mask=mask, ids_restore=ids_restore,
                         taps=taps, progress=self.progress, data_samples=data_samples)
        if self.needs_teacher:
            with torch.no_grad():
                # (B, 1 + N, C): final-normed tokens of the unmasked images
                state.teacher_tokens = self.teacher['backbone'](inputs, mask=None)[0]
        return state

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        state = self.compute_state(inputs, data_samples)
        pred = self.neck(state.latent, state.ids_restore)  # (B, N, p*p*3)
        losses = dict(loss=self.head.loss(pred, inputs, state.mask))
        for name, component in self.supervisions.items():
            for key, value in component.loss(state).items():
                if key.startswith('loss'):
                    losses[f'loss_{name}{key[4:]}'] = value
                else:
                    losses[f'{name}_{key}'] = value
        return losses
