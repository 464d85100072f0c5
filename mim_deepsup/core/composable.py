"""The composable base of every algorithm: an mmpretrain self-supervised algorithm whose
loss is extended by named supervision components (``mim_deepsup/algorithms/``: one file
per framework).

One step (docs/methods.md, the shared step)::

    state  = the student's masked pass, once (taps of the blocks the components read)
             + the EMA teacher's unmasked pass, once, if a component reads it
             + the target generator's output, once, if there is one
    losses = the algorithm's own term(s) + every component's terms, from the same state
"""
import copy
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import ModuleDict
from mmpretrain.registry import MODELS

from .component import BaseSupervision
from .head_loss import check_head_loss
from .state import MIMState
from .validation import build, check_dict


class ComposableMixin:
    """Builds ``model.supervisions`` and the EMA teacher, makes the step's state, collects
    the components' losses; mixed in before an mmpretrain algorithm
    (``class ComposableMAE(ComposableMixin, MAE)``).

    The constructor, for every framework: a trial build of ``model.head`` (so that a bad
    setting names its key; the random state is left as it was), the mmpretrain algorithm,
    :meth:`check_parts` (what its parts must agree on, before the components take their
    sizes), the components and the teacher, then :meth:`check_components`.

    A component named ``aux6`` that returns ``{'loss': x}`` is logged as ``loss_aux6``,
    ``{'loss_lut': y}`` as ``loss_aux6_lut``, and a key without ``loss`` as ``aux6_<key>``;
    the algorithm's own single term ``loss`` is renamed ``loss_mim`` when components add
    theirs, so that mmengine's logged ``loss`` is the optimised total.

    Training progress has one channel: :class:`TrainingProgressHook` calls
    :meth:`set_progress` on the algorithm before each iteration; the state carries it
    (``state.progress``) to every component and state-reading loss, and the teacher's
    update after the step (:meth:`update_teacher`) reads it too.

    Args:
        backbone (dict): a tapped backbone (``core.taps``), whose taps hold ``tap_layout``
            tokens.
        supervisions (dict[str, dict], optional): extra components by name, each a
            :class:`BaseSupervision` config. Defaults to None (the mmpretrain algorithm's
            losses and gradients, bit for bit).
        teacher (dict, optional): an :class:`EMATeacher` config (``sources``, momenta),
            built when given, or with its defaults when a component needs a teacher.
            Defaults to None.
        **kwargs: the mmpretrain algorithm's arguments (neck, head, target_generator, ...).
    """

    # declared by every framework: what its backbone's taps hold ('visible': MAE's kept
    # tokens, 'all': every position of a ViT, 'swin': Swin stages), the components'
    # tap_layout values it takes (None: a component that reads either ViT layout), and its
    # own loss names after the rename below (a component may not take one)
    tap_layout: Optional[str] = None
    component_layouts: Optional[Tuple[Optional[str], ...]] = None
    own_losses: Tuple[str, ...] = ('loss_mim', )
    # a target generator that gives images (PixMIM's) rather than features
    gives_images = False

    def __init__(self, backbone: dict, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, **kwargs) -> None:
        if self.tap_layout is None or self.component_layouts is None:
            raise TypeError(f'{type(self).__name__}: a composable algorithm declares '
                            f'tap_layout and component_layouts (ComposableMixin)')
        head = kwargs.get('head')
        self._head_cfg = copy.deepcopy(head) if isinstance(head, dict) else None
        if isinstance(head, dict):
            with torch.random.fork_rng(devices=[]):
                check_head_loss(head)
                build(MODELS, head, 'model.head')
        super().__init__(backbone=backbone, **kwargs)
        self.check_parts()
        self._setup_supervisions(supervisions, teacher)
        self.check_components()

    def check_parts(self) -> None:
        """What the algorithm's parts must agree on, checked before the components."""

    def check_components(self) -> None:
        """What the components ask of the algorithm, checked once they are built."""

    def _setup_supervisions(self, supervisions: Optional[Dict[str, dict]],
                            teacher: Optional[dict]) -> None:
        if not hasattr(self.backbone, 'blocks_to_record'):
            raise TypeError(f'model.backbone: {type(self.backbone).__name__} records no taps; '
                            f'use a tapped backbone (core.taps.TapsMixin: TappedMAEViT, '
                            f'TappedBEiTPretrainViT, TappedMaskFeatViT, TappedSimMIMSwin)')
        supervisions = check_dict(supervisions, 'model.supervisions',
                                  'a dict of name -> component config') or {}
        for name in supervisions:
            if 'loss' in name:
                raise ValueError(f'model.supervisions.{name}: a component name may not '
                                 f'contain "loss" (mmengine would sum its logged values)')
            if f'loss_{name}' in self.own_losses:
                raise ValueError(f'model.supervisions.{name}: its term loss_{name} would '
                                 f'replace {type(self).__name__}\'s own; choose another name')
        # mmengine's ModuleDict, so that init_weights reaches every component
        self.supervisions = ModuleDict({
            name: self._build_component(cfg, f'model.supervisions.{name}')
            for name, cfg in supervisions.items()
        })
        self.taps = self.backbone.blocks_to_record(
            [b for c in self.supervisions.values() for b in c.required_taps],
            key='model.supervisions[*].required_taps')
        # what the components need (BaseSupervision's declarations), read here only
        for name, component in self.supervisions.items():
            if component.needs_target and (not self.with_target_generator
                                           or self.gives_images):
                raise ValueError(f'model.supervisions.{name}: reads the target generator\'s '
                                 f'features (B, N, D); set model.target_generator to one '
                                 f'that gives them')
        self.num_views = max([c.required_views for c in self.supervisions.values()],
                             default=1)
        self.needs_teacher = any(c.needs_teacher for c in self.supervisions.values())
        self._setup_teacher(teacher)
        self.progress: Optional[float] = None

    def _build_component(self, cfg, key: str) -> BaseSupervision:
        """Build a component, filling in the ``algorithm_args`` it asks for and the config
        leaves out (logged: what the component took from the algorithm)."""
        cfg = check_dict(cfg, key, "a component config such as "
                         "dict(type='DeepMIMSupervision')", allow_none=False)
        cls = cfg.get('type')
        if cls is None:
            raise TypeError(f"{key}: expected a component config with a 'type', got {cfg!r}")
        cls = cls if isinstance(cls, type) else MODELS.get(cls)
        if cls is None:
            raise KeyError(f'{key}.type: {cfg.get("type")!r} is not a registered component')
        if not (isinstance(cls, type) and issubclass(cls, BaseSupervision)):
            raise TypeError(f'{key}: {getattr(cls, "__name__", cls)} is not a BaseSupervision')
        if cls.tap_layout not in self.component_layouts:
            raise ValueError(f'{key}: {cls.__name__} reads taps of {cls.tap_layout or "ViT"} '
                             f'tokens, but {type(self).__name__}\'s taps hold '
                             f'{self.tap_layout} tokens')
        defaults = self.component_defaults()
        given = {k: defaults[k] for k in cls.algorithm_args if k in defaults and k not in cfg}
        if given:
            shown = ', '.join(f'{k}={v!r}' if not isinstance(v, dict) else
                              f'{k}=<{v.get("type", "dict")} config>' for k, v in given.items())
            print_log(f'{key}: {cls.__name__} takes from the algorithm {shown}',
                      logger='current')
        return build(MODELS, cfg, key, given)

    def _setup_teacher(self, teacher: Optional[dict]) -> None:
        """Build the EMA teacher over ``sources`` and the components' ``teacher_modules``."""
        self._teacher_paths = {name: {m: f'supervisions.{name}.{m}' for m in c.teacher_modules}
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
        if self.needs_teacher and 'backbone' not in sources:
            raise ValueError(f'model.teacher.sources: must include "backbone" (a component '
                             f'reads the teacher\'s tokens), got {list(sources)}')
        own = [p for paths in self._teacher_paths.values() for p in paths.values()]
        teacher['sources'] = list(sources) + [p for p in own if p not in sources]
        self.teacher = build(MODELS, teacher, 'model.teacher', dict(student=self))

    def component_defaults(self) -> Dict[str, object]:
        """What a component may take from the algorithm (its ``algorithm_args``): the
        backbone's sizes, ``layout`` (what the taps hold) and ``head`` (a copy of the
        head's config); a framework adds its own (e.g. ``target_channels``)."""
        return dict(self.backbone.facts(), layout=self.tap_layout,
                    head=copy.deepcopy(self._head_cfg))

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy."""
        super().init_weights()
        if self.teacher is not None:
            self.teacher.reset(self)

    def set_progress(self, progress: float) -> None:
        """Training progress t in [0, 1), from :class:`TrainingProgressHook`."""
        self.progress = progress

    def update_teacher(self) -> None:
        """One EMA step of the teacher at the published progress (:meth:`set_progress`),
        called by :class:`EMATeacherHook` after each optimizer step."""
        if self.teacher is None:
            return
        if self.progress is None:
            raise RuntimeError('update_teacher: no training progress was published; '
                               'TrainingProgressHook (custom_hooks) calls set_progress '
                               'before each iteration')
        self.teacher.update(self, self.progress)

    def new_state(self, inputs: torch.Tensor, mask: torch.Tensor, data_samples,
                  **fields) -> MIMState:
        """The step's :class:`MIMState`, with the backbone's patch grid and the published
        progress.

        Args:
            inputs (torch.Tensor): (B, 3, H, W) the images the student saw.
            mask (torch.Tensor): (B, N) float, 1 = masked or removed.
            data_samples (list): the batch's data samples.
            **fields: the algorithm's other :class:`MIMState` fields (``taps``,
                ``target``, ``latent``, ...); ``pixels`` defaults to ``inputs``.
        """
        fields.setdefault('pixels', inputs)
        return MIMState(inputs=inputs, mask=mask, grid=self.backbone.facts()['patch_grid'],
                        progress=self.progress, data_samples=data_samples, **fields)

    def teacher_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The EMA teacher's last backbone output on unmasked images, without gradient.

        Args:
            images (torch.Tensor): (B, 3, H, W).

        Returns:
            torch.Tensor: (B, 1 + N, C), the class token first.
        """
        with torch.no_grad():
            return self.teacher['backbone'](images, mask=None)[-1]

    def add_component_losses(self, losses: Dict[str, torch.Tensor],
                             state: MIMState) -> Dict[str, torch.Tensor]:
        """The algorithm's losses and every component's terms, under its name. A
        component's ``teacher`` argument holds the teacher's copies of its
        ``teacher_modules``.

        Args:
            losses (dict[str, torch.Tensor]): the algorithm's own terms; ``loss`` becomes
                ``loss_mim`` when there are components.
            state (MIMState): the step's state, handed to every component.

        Returns:
            dict[str, torch.Tensor]: every term, for mmengine's ``parse_losses``.
        """
        if self.supervisions:  # mmengine's logged `loss` is then the optimised total
            losses = {('loss_mim' if k == 'loss' else k): v for k, v in losses.items()}
        for name, component in self.supervisions.items():
            teacher = {m: self.teacher[p] for m, p in self._teacher_paths[name].items()}
            for key, value in component.loss(state, teacher).items():
                if key.startswith('loss'):
                    losses[f'loss_{name}{key[4:]}'] = value
                else:
                    losses[f'{name}_{key}'] = value
        return losses
