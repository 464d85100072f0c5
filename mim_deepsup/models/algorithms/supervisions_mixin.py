"""What every composable algorithm shares: named supervision components and a teacher."""
from typing import Dict, Optional

import torch
from mmengine.model import ModuleDict
from mmpretrain.registry import MODELS
from torch import nn

from ...validation import check_dict
from ..utils import BaseSupervision, MIMState


class SupervisionsMixin:
    """Builds ``model.supervisions`` and the EMA teacher; collects the components' losses.

    For an mmpretrain self-supervised algorithm with a ``TapsMixin`` backbone, whose taps
    hold ``tap_layout`` tokens (``'visible'`` for MAE, ``'all'`` for BEiT). A component
    named ``aux6`` that returns ``{'loss': x}`` is logged as ``loss_aux6``,
    ``{'loss_bc': y}`` as ``loss_aux6_bc``, and a key without ``loss`` as ``aux6_<key>``.
    """

    def _setup_supervisions(self, supervisions: Optional[Dict[str, dict]],
                            teacher: Optional[dict]) -> None:
        if not hasattr(self.backbone, 'forward_taps'):
            raise TypeError(f'model.backbone: {type(self.backbone).__name__} has no '
                            f'forward_taps; use TappedMAEViT (or a TapsMixin backbone)')
        supervisions = supervisions or {}
        if not isinstance(supervisions, dict):
            raise TypeError(f'model.supervisions must be a dict of name -> component config, '
                            f'got {type(supervisions).__name__}')
        # mmengine's ModuleDict, so that init_weights reaches every component
        self.supervisions = ModuleDict()
        for name, cfg in supervisions.items():
            if 'loss' in name:
                raise ValueError(f'model.supervisions.{name}: a component name may not '
                                 f'contain "loss" (mmengine would sum its logged values)')
            try:
                component = self._build_component(cfg)
            except (ValueError, TypeError, FileNotFoundError) as e:
                raise type(e)(f'model.supervisions.{name}: {e}') from e
            except KeyError as e:  # e.g. an unknown type: the registry's message, our key
                raise KeyError(f'model.supervisions.{name}: {e.args[0]}') from e
            if not isinstance(component, BaseSupervision):
                raise TypeError(f'model.supervisions.{name}: {type(component).__name__} is not '
                                f'a BaseSupervision')
            if component.needs_target and not self.with_target_generator:
                raise ValueError(f'model.supervisions.{name} reads the target generator\'s '
                                 f'output: set model.target_generator')
            self.supervisions[name] = component
        self.taps = self.backbone.check_taps(
            [b for c in self.supervisions.values() for b in c.required_taps],
            key='model.supervisions[*].required_taps')
        self.num_views = max([c.required_views for c in self.supervisions.values()],
                             default=1)
        self.needs_teacher = any(c.needs_teacher for c in self.supervisions.values())
        self._setup_teacher(teacher)
        self.progress = 0.0

    def _setup_teacher(self, teacher: Optional[dict]) -> None:
        """Build the EMA teacher, also over the components' ``teacher_modules``."""
        own = {name: {m: f'supervisions.{name}.{m}' for m in c.teacher_modules}
               for name, c in self.supervisions.items()}
        if teacher is None and self.needs_teacher:
            teacher = dict(type='EMATeacher')
        self.teacher = None
        if teacher is None:
            return
        teacher = dict(check_dict(teacher, 'model.teacher',
                                  "a dict such as dict(type='EMATeacher', ...)"))
        sources = teacher.get('sources', ['backbone'])
        if isinstance(sources, str) or not isinstance(sources, (list, tuple)):
            raise TypeError(f'model.teacher.sources: expected a list of attribute paths such '
                            f'as [\'backbone\'], got {sources!r}')
        sources = list(sources)
        teacher['sources'] = sources + [p for paths in own.values() for p in paths.values()
                                        if p not in sources]
        try:
            self.teacher = MODELS.build(teacher, default_args=dict(student=self))
        except KeyError as e:  # e.g. an unknown type: the registry's message, our key
            raise KeyError(f'model.teacher: {e.args[0] if e.args else e}') from e
        if self.needs_teacher and 'backbone' not in self.teacher.sources:
            raise ValueError(f'model.teacher.sources must include "backbone" (a component '
                             f'reads the teacher\'s tokens), got {self.teacher.sources}')
        for name, paths in own.items():
            # a plain dict: the copies are the teacher's modules, saved under model.teacher
            self.supervisions[name].teacher_copies = {m: self.teacher[p]
                                                      for m, p in paths.items()}

    def component_defaults(self) -> Dict[str, object]:
        """What a component may take from the algorithm (its ``algorithm_args``): the
        backbone's sizes and ``layout``, what the taps hold (``'visible'`` or ``'all'``)."""
        return dict(self.backbone.facts(), layout=self.tap_layout)

    def _build_component(self, cfg) -> nn.Module:
        """Build a component, filling in its ``algorithm_args``."""
        if isinstance(cfg, nn.Module):
            return cfg
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError(f"expected a component config with a 'type', such as "
                            f"dict(type='DeepSupervision'), got {cfg!r}")
        cls = cfg['type'] if isinstance(cfg['type'], type) else MODELS.get(cfg['type'])
        if cls is None:
            raise KeyError(f'type {cfg["type"]!r} is not a registered component')
        layout = getattr(cls, 'tap_layout', None)
        if layout not in (None, self.tap_layout):
            raise ValueError(f'{cls.__name__} reads taps of {layout} tokens, but '
                             f'{type(self).__name__}\'s taps hold {self.tap_layout} tokens')
        defaults = self.component_defaults()
        wanted = getattr(cls, 'algorithm_args', ())
        return MODELS.build(cfg, default_args={k: defaults[k] for k in wanted if k in defaults})

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

    def add_component_losses(self, losses: Dict[str, torch.Tensor],
                             state: MIMState) -> Dict[str, torch.Tensor]:
        """Add every component's terms to ``losses``, under its name."""
        for name, component in self.supervisions.items():
            for key, value in component.loss(state).items():
                if key.startswith('loss'):
                    losses[f'loss_{name}{key[4:]}'] = value
                else:
                    losses[f'{name}_{key}'] = value
        return losses
