"""mmpretrain's MAE, BEiT-v2, MaskFeat and SimMIM whose loss is extended by named
supervision components.

One step (docs/methods.md, the shared step)::

    state  = the student's masked pass, once (taps of the blocks the components read)
             + the EMA teacher's unmasked pass, once, if a component reads it
             + the target generator's output, once, if there is one
    losses = the algorithm's own term(s) + every component's terms, from the same state
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import ModuleDict
from mmpretrain.models import MAE, BEiT, MaskFeat, SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from .component import BaseSupervision
from .state import MIMState
from .validation import build, check_bool, check_dict, check_number
from .view_masking import check_view_mask_ratio, disjoint_view_masks, mask_noise


def pixel_target(state: MIMState, head: nn.Module) -> torch.Tensor:
    """(B, N, p * p * 3) MAE's pixel target of ``state.pixels`` for a pixel ``head``
    (``MAEPretrainHead``): computed once per step for every head of the same patch size
    and normalisation."""
    key = ('pixel_target', head.patch_size, head.norm_pix)
    return state.once(key, lambda: head.construct_target(state.pixels))


def call_head_loss(owner: nn.Module, loss, *args, state: MIMState):
    """``loss(*args)`` (a method of ``owner``, or ``owner`` itself), and ``state`` too when
    ``owner`` reads the step's state (``reads_state = True``, e.g. DDAE's weighted losses)."""
    if getattr(owner, 'reads_state', False):
        return loss(*args, state=state)
    return loss(*args)


def check_head_loss(head: dict) -> None:
    """Build the head's loss once on its own: mmpretrain's heads build it inside, where its
    errors would not know their key (``model.head.loss``)."""
    if isinstance(head.get('loss'), dict):
        build(MODELS, head['loss'], 'model.head.loss')


class ComposableMixin:
    """Builds ``model.supervisions`` and the EMA teacher; collects the components' losses.

    For an mmpretrain self-supervised algorithm with a tapped backbone (``core.taps``),
    whose taps hold ``tap_layout`` tokens (``'visible'`` for MAE, ``'all'`` for BEiT). A
    component named ``aux6`` that returns ``{'loss': x}`` is logged as ``loss_aux6``,
    ``{'loss_lut': y}`` as ``loss_aux6_bc``, and a key without ``loss`` as ``aux6_<key>``.

    Training progress has one channel: :class:`TrainingProgressHook` calls
    :meth:`set_progress` on the algorithm before each iteration, and the state carries it
    (``state.progress``) to every component and state-reading loss.
    """

    tap_layout = 'visible'
    # the components' tap_layout values it takes (None: a component that reads either ViT)
    component_layouts = (None, 'visible')

    def _setup_supervisions(self, supervisions: Optional[Dict[str, dict]],
                            teacher: Optional[dict]) -> None:
        # config checks
        if not hasattr(self.backbone, 'blocks_to_record'):
            raise TypeError(f'model.backbone: {type(self.backbone).__name__} records no taps; '
                            f'use TappedMAEViT or TappedBEiTPretrainViT')
        supervisions = check_dict(supervisions, 'model.supervisions',
                                  'a dict of name -> component config') or {}
        for name in supervisions:
            if 'loss' in name:
                raise ValueError(f'model.supervisions.{name}: a component name may not '
                                 f'contain "loss" (mmengine would sum its logged values)')
        # mmengine's ModuleDict, so that init_weights reaches every component
        self.supervisions = ModuleDict({
            name: self._build_component(cfg, f'model.supervisions.{name}')
            for name, cfg in supervisions.items()
        })
        self.taps = self.backbone.blocks_to_record(
            [b for c in self.supervisions.values() for b in c.required_taps],
            key='model.supervisions[*].required_taps')
        self.num_views = max([c.required_views for c in self.supervisions.values()],
                             default=1)
        self.needs_teacher = any(c.needs_teacher for c in self.supervisions.values())
        self._setup_teacher(teacher)
        self.progress: Optional[float] = None

    def _build_component(self, cfg, key: str) -> BaseSupervision:
        """Build a component, filling in the ``algorithm_args`` it asks for."""
        cfg = check_dict(cfg, key, "a component config such as "
                         "dict(type='DeepMIMSupervision')", allow_none=False)
        cls = cfg.get('type')
        if cls is None:
            raise TypeError(f"{key}: expected a component config with a 'type', got {cfg!r}")
        cls = cls if isinstance(cls, type) else MODELS.get(cls)
        if cls is None:
            raise KeyError(f'{key}.type: {cfg.get("type")!r} is not a registered component')
        layout = getattr(cls, 'tap_layout', None)
        if layout not in self.component_layouts:
            raise ValueError(f'{key}: {cls.__name__} reads taps of {layout or "ViT"} tokens, '
                             f'but {type(self).__name__}\'s taps hold {self.tap_layout} '
                             f'tokens')
        defaults = self.component_defaults()
        wanted = getattr(cls, 'algorithm_args', ())
        component = build(MODELS, cfg, key, {k: defaults[k] for k in wanted if k in defaults})
        if not isinstance(component, BaseSupervision):
            raise TypeError(f'{key}: {type(component).__name__} is not a BaseSupervision')
        if component.needs_target and (not self.with_target_generator
                                       or getattr(self, 'gives_images', False)):
            raise ValueError(f'{key}: reads the target generator\'s features (B, N, D); set '
                             f'model.target_generator to one that gives them')
        return component

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
        backbone's sizes and ``layout``, what the taps hold (``'visible'`` or ``'all'``)."""
        return dict(self.backbone.facts(), layout=self.tap_layout)

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy."""
        super().init_weights()
        if self.teacher is not None:
            self.teacher.reset(self)

    def set_progress(self, progress: float) -> None:
        """Training progress t in [0, 1), from :class:`TrainingProgressHook`."""
        self.progress = progress

    def update_teacher(self, progress: float) -> None:
        """Called by :class:`EMATeacherHook` after each optimizer step."""
        if self.teacher is not None:
            self.teacher.update(self, progress)

    def add_component_losses(self, losses: Dict[str, torch.Tensor],
                             state: MIMState) -> Dict[str, torch.Tensor]:
        """Add every component's terms to ``losses``, under its name. A component's
        ``teacher`` argument holds the teacher's copies of its ``teacher_modules``."""
        for name, component in self.supervisions.items():
            teacher = {m: self.teacher[p] for m, p in self._teacher_paths[name].items()}
            for key, value in component.loss(state, teacher).items():
                if key.startswith('loss'):
                    losses[f'loss_{name}{key[4:]}'] = value
                else:
                    losses[f'{name}_{key}'] = value
        return losses


@MODELS.register_module()
class ComposableMAE(ComposableMixin, MAE):
    """mmpretrain's :class:`MAE` plus any number of extra supervision components.

    The student's masked pass runs once (:meth:`TappedMAEViT.forward_masked`) and returns
    the block outputs every component asked for; the EMA teacher's unmasked pass runs once
    if any component needs it; MAE's decoder (``neck``) and pixel head (``head``) give MAE's
    term; each component adds its named terms. With no component the losses and gradients
    are MAE's, bit for bit. With components, MAE's term is named ``loss_mim``, so that
    mmengine's logged ``loss`` is the optimised total.

    Several views (LUT): when a component reads V > 1 views of each image, the data gives
    a list of V (B, 3, H, W) batches (mmpretrain's ``MultiView``). One noise draw masks
    them with disjoint visible sets (:func:`disjoint_view_masks`), the student encodes all
    V x B masked images in one batched pass and the teacher all unmasked ones in another;
    only the first view (the MIM view) is decoded for ``loss_mim``.

    Args:
        backbone (dict): a ``TappedMAEViT``.
        neck (dict): MAE's decoder, e.g. ``MAEPretrainDecoder``.
        head (dict): MAE's head, e.g. ``MAEPretrainHead``; a loss with ``reads_state``
            (DDAE's) is also given the step's state.
        supervisions (dict[str, dict], optional): extra components by name, each a
            :class:`BaseSupervision` config.
        teacher (dict, optional): an :class:`EMATeacher` config (``sources``, momenta).
            Built when given, or with its defaults when a component needs a teacher.
        target_generator (dict, optional): mmpretrain's argument: a frozen module whose
            output on the images is the target of the final decoder instead of their
            pixels, run once per step without gradient. (B, N, D) features (CLIP, DINO,
            HOG) are shared as ``state.target``: ``head.loss(pred, target, mask)`` as in
            mmpretrain's MILAN and MaskFeat, with a feature head such as ``MIMHead``. A
            generator that gives images (``gives_images``, PixMIM's low-frequency ones) is
            shared as ``state.pixels``: a pixel head's target is made of them, as in
            PixMIM.
        batch_views (bool): encode the views in one batched pass (default). False runs one
            pass per view, as the LUT authors' code does, to compare against; the losses
            are the same up to floating-point rounding.
        **kwargs: the rest of :class:`MAE`'s arguments.
    """

    tap_layout = 'visible'

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None,
                 batch_views: bool = True,
                 **kwargs) -> None:
        self._head_cfg = copy.deepcopy(head)
        if isinstance(head, dict):
            # built here so that its errors name the key; MAE takes the module. MAE's heads
            # (a loss, no parameters) draw no random numbers ahead of the backbone's.
            check_head_loss(head)
            head = build(MODELS, head, 'model.head')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.gives_images = self.with_target_generator and getattr(
            self.target_generator, 'gives_images', False)
        if self.with_target_generator:
            self._check_target_generator()
        self._setup_supervisions(supervisions, teacher)
        self.batch_views = check_bool(batch_views, 'model.batch_views')
        self._check_config()

    def _check_target_generator(self) -> None:
        """What the target generator must agree on with the backbone and the head, checked
        before the components, which take its width."""
        generator, facts = self.target_generator, self.backbone.facts()
        if self.gives_images and not hasattr(self.head, 'construct_target'):
            raise ValueError(f'model.head: {type(generator).__name__} gives images, whose '
                             f'patches are the target of a pixel head (MAEPretrainHead); '
                             f'got {type(self.head).__name__}')
        patch_size = getattr(generator, 'patch_size', None)
        if patch_size is not None and patch_size != facts['patch_size']:
            raise ValueError(f'model.target_generator.patch_size: {patch_size}, the '
                             f'backbone\'s patches are {facts["patch_size"]} px; they must '
                             f'match')
        if hasattr(generator, 'check_input_size'):
            generator.check_input_size(tuple(side * facts['patch_size']
                                             for side in facts['patch_grid']))

    def _check_config(self) -> None:
        """What the parts must agree on, or training would be silently wrong."""
        facts = self.backbone.facts()
        mask_ratio = check_number(self.backbone.mask_ratio, 'model.backbone.mask_ratio', 0, 1,
                                  open_min=True, open_max=True)
        check_view_mask_ratio(mask_ratio, self.num_views, key='model.backbone.mask_ratio')
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices: must be [-1] when a component '
                             f'reads the teacher\'s final tokens, got '
                             f'{self.backbone.out_indices}')
        generator = self.target_generator if self.with_target_generator else None
        num_patches = getattr(generator, 'num_patches', None)
        if num_patches is not None and num_patches != facts['num_patches']:
            raise ValueError(f'model.target_generator: its patch grid has {num_patches} '
                             f'patches, the backbone\'s {facts["num_patches"]}; they must '
                             f'match (image size / patch size)')
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

    def _views(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """The list of V (B, 3, H, W) view batches, checked against what components read."""
        views = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        if len(views) != self.num_views:
            raise ValueError(
                f'the data gives {len(views)} view(s) of each image, model.supervisions read '
                f'{self.num_views}: use mmpretrain\'s MultiView with num_views summing to '
                f'{self.num_views} in train_dataloader.dataset.pipeline' if self.num_views > 1
                else f'the data gives {len(views)} views of each image, but no component in '
                f'model.supervisions reads more than one: drop MultiView from the pipeline')
        return views

    def _student_pass(self, views: List[torch.Tensor]):
        """The student's masked pass over every view: ((latent, mask, ids_restore), taps),
        each (V * B, ...) view-major."""
        batch, num_patches = len(views[0]), self.backbone.num_patches
        num_visible = int(num_patches * (1 - self.backbone.mask_ratio))
        # MAE's draw for one process; under DDP each image's rows of the global draw
        noise = mask_noise(batch, num_patches, views[0].device)  # (B, N)
        ids_restore = disjoint_view_masks(noise, len(views), num_visible)  # (V * B, N)
        if len(views) == 1 or self.batch_views:
            batched = views[0] if len(views) == 1 else torch.cat(views)  # (V * B, 3, H, W)
            return self.backbone.forward_masked(batched, ids_restore, num_visible, self.taps)
        passes = [self.backbone.forward_masked(view, ids, num_visible, self.taps)
                  for view, ids in zip(views, ids_restore.split(batch))]
        outputs = tuple(torch.cat(parts) for parts in zip(*(out for out, _ in passes)))
        return outputs, {b: torch.cat([taps[b] for _, taps in passes]) for b in self.taps}

    def _teacher_pass(self, views: List[torch.Tensor]) -> torch.Tensor:
        """(V * B, 1 + N, C): the teacher's final-normed tokens of every unmasked view."""
        teacher = self.teacher['backbone']
        with torch.no_grad():
            if len(views) == 1 or self.batch_views:
                return teacher(torch.cat(views) if len(views) > 1 else views[0], mask=None)[0]
            return torch.cat([teacher(view, mask=None)[0] for view in views])

    def compute_state(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                      data_samples=None) -> MIMState:
        """The student's masked pass (once) and, if asked for, the teacher's pass and the
        target generator (once each), over every view; the state's single-view fields
        describe the first view."""
        views = self._views(inputs)
        num_views, batch = len(views), len(views[0])
        (latent, mask, ids_restore), taps = self._student_pass(views)
        target = None
        if self.with_target_generator:
            with torch.no_grad():
                target = self.target_generator(views[0])
        state = MIMState(inputs=views[0], pixels=target if self.gives_images else views[0],
                         mask=mask[:batch], grid=self.backbone.facts()['patch_grid'],
                         progress=self.progress, latent=latent[:batch],
                         ids_restore=ids_restore[:batch],
                         taps={b: t[:batch] for b, t in taps.items()},
                         target=None if self.gives_images else target,
                         data_samples=data_samples,
                         view_latents=latent.unflatten(0, (num_views, batch)))
        if self.needs_teacher:
            tokens = self._teacher_pass(views)  # (V * B, 1 + N, C)
            state.teacher_tokens = tokens[:batch]
            state.view_teacher_tokens = tokens.unflatten(0, (num_views, batch))
        return state

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        state = self.compute_state(inputs, data_samples)
        pred = self.neck(state.latent, state.ids_restore)  # (B, N, p * p * 3) or (B, N, D)
        # MIMHead.loss with a target generator's features (MILAN, MaskFeat); otherwise
        # MAEPretrainHead.loss, its pixel target shared with the components
        target = pixel_target(state, self.head) if state.target is None else state.target
        loss_module = self.head.loss_module
        loss = call_head_loss(loss_module, loss_module, pred, target, state.mask, state=state)
        # MAE's own key without components; with them mmengine's `loss` is the total
        losses = {'loss_mim' if self.supervisions else 'loss': loss}
        return self.add_component_losses(losses, state)


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
        supervisions (dict[str, dict], optional): extra components by name.
        teacher (dict, optional): an :class:`EMATeacher` config, as for ``ComposableMAE``.
        **kwargs: the rest of :class:`BEiT`'s arguments (a neck is required: BEiT-v2).
    """

    tap_layout = 'all'
    component_layouts = (None, 'all')

    def __init__(self, backbone: dict, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, **kwargs) -> None:
        if isinstance(kwargs.get('head'), dict):
            # BEiT builds the head after the backbone: a trial build here names the key of
            # a bad setting and leaves the random state (the weights' draws) as it was
            with torch.random.fork_rng(devices=[]):
                check_head_loss(kwargs['head'])
                build(MODELS, kwargs['head'], 'model.head')
        super().__init__(backbone=backbone, **kwargs)
        if self.with_target_generator:
            # the tokenizer gives codes under no_grad (its codebook follows its own
            # all-reduced EMA): without requires_grad, DDP needs no find_unused_parameters
            self.target_generator.requires_grad_(False)
        self._setup_supervisions(supervisions, teacher)
        # config checks
        if not self.with_neck:
            raise ValueError('model.neck: ComposableBEiT is BEiT-v2 (its neck and two '
                             'terms); BEiT v1 has no neck')
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
        state = MIMState(inputs=inputs[0], pixels=inputs[0], mask=mask.flatten(1).float(),
                         grid=self.backbone.facts()['patch_grid'], progress=self.progress,
                         taps=taps, target=codes, data_samples=data_samples)
        if self.needs_teacher:
            with torch.no_grad():
                # (B, 1 + N, C): the last block's output on the unmasked images
                state.teacher_tokens = self.teacher['backbone'](inputs[0], mask=None)[-1]
        feats, feats_cls_pt = self.neck(latent, rel_pos_bias=self.backbone.shared_rel_pos_bias)
        loss_1, loss_2 = call_head_loss(self.head, self.head.loss, feats, feats_cls_pt, codes,
                                        mask, state=state)
        return self.add_component_losses(dict(loss_1=loss_1, loss_2=loss_2), state)



@MODELS.register_module()
class ComposableSimMIM(ComposableMixin, SimMIM):
    """mmpretrain's :class:`SimMIM` (a Swin with mask tokens, a linear decoder, L1 over the
    masked pixels) plus components reading the taps of its blocks.

    The step is SimMIM's, written forward: the backbone's masked pass (recording the blocks
    the components asked for), the neck's reconstruction of the final stage, then
    ``head.loss(reconstruction, inputs, mask)`` exactly as ``SimMIM.loss``; every component
    adds its terms from the shared state: ``state.taps`` (B, h_s w_s, C_s) per block at its
    stage's resolution (:class:`TappedSimMIMSwin`), ``state.mask`` (B, N) float on the
    backbone's patch grid ``state.grid`` (SimMIM's masks are blocks of mask patches, e.g.
    32 px = 8 x 8 patches of 4 px), ``state.pixels`` the images. A head whose loss
    ``reads_state`` (DDAE's) is also given the state.

    Args:
        backbone (dict): a ``TappedSimMIMSwin``.
        supervisions (dict[str, dict], optional): extra components by name, each reading
            Swin taps (``tap_layout = 'swin'``).
        teacher (dict, optional): an :class:`EMATeacher` config, as for ``ComposableMAE``.
        **kwargs: the rest of :class:`SimMIM`'s arguments (neck, head, ...).
    """

    tap_layout = 'swin'
    component_layouts = ('swin', )  # a ViT component's predictors do not fit Swin stages

    def __init__(self, backbone: dict, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, **kwargs) -> None:
        self._head_cfg = copy.deepcopy(kwargs.get('head'))
        if isinstance(kwargs.get('head'), dict):
            check_head_loss(kwargs['head'])  # SimMIM's head and loss draw no random numbers
        super().__init__(backbone=backbone, **kwargs)
        self._setup_supervisions(supervisions, teacher)
        # config checks
        if self.needs_teacher:
            raise ValueError('model.supervisions: ComposableSimMIM has no component that '
                             'reads an EMA teacher')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes (per block: channels, stride) and SimMIM's head config."""
        return dict(super().component_defaults(), head=copy.deepcopy(self._head_cfg))

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        mask = torch.stack([sample.mask for sample in data_samples])  # (B, h, w), 1 = masked
        latent, taps = self.backbone.forward_taps(inputs, self.taps, mask=mask)
        state = MIMState(inputs=inputs, pixels=inputs, mask=mask.flatten(1).float(),
                         grid=self.backbone.facts()['patch_grid'], progress=self.progress,
                         taps=taps, data_samples=data_samples)
        reconstruction = self.neck(latent[0])  # (B, 3, H, W) from the final stage
        loss = call_head_loss(self.head, self.head.loss, reconstruction, inputs, mask,
                              state=state)
        losses = {'loss_mim' if self.supervisions else 'loss': loss}
        return self.add_component_losses(losses, state)


@MODELS.register_module()
class ComposableMaskFeat(ComposableMixin, MaskFeat):
    """mmpretrain's :class:`MaskFeat` (a ViT with mask tokens, a linear neck regressing the
    HOG of the masked patches) plus components.

    The step is MaskFeat's, written forward: the backbone's masked pass (recording the
    blocks the components asked for), the neck on every token, the target generator's HOG
    of the images (once), then the head's loss on the patch tokens exactly as
    ``MaskFeat.loss``; every component adds its terms from the shared state:
    ``state.taps`` (B, 1 + N, C) of every position, ``state.target`` (B, N, D) the HOG,
    ``state.mask`` (B, N) float (BEiT's block-wise mask), ``state.teacher_tokens`` when a
    component reads the EMA teacher (its final-normed tokens on the unmasked images). A
    head loss that ``reads_state`` (DDAE's) is also given the state.

    Args:
        backbone (dict): a ``TappedMaskFeatViT``.
        supervisions (dict[str, dict], optional): extra components by name.
        teacher (dict, optional): an :class:`EMATeacher` config, as for ``ComposableMAE``.
        **kwargs: the rest of :class:`MaskFeat`'s arguments (neck, head, target_generator).
    """

    tap_layout = 'all'
    component_layouts = (None, 'all')

    def __init__(self, backbone: dict, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, **kwargs) -> None:
        self._head_cfg = copy.deepcopy(kwargs.get('head'))
        if isinstance(kwargs.get('head'), dict):
            check_head_loss(kwargs['head'])  # MIMHead and its loss draw no random numbers
        super().__init__(backbone=backbone, **kwargs)
        # config checks
        if not self.with_target_generator:
            raise ValueError('model.target_generator: MaskFeat regresses a target such as '
                             "dict(type='HOGGenerator'); none is set")
        self._setup_supervisions(supervisions, teacher)

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes, MaskFeat's head config and the target's width (the neck's
        output width)."""
        fc = getattr(self.neck, 'fc', None)
        return dict(super().component_defaults(), head=copy.deepcopy(self._head_cfg),
                    target_channels=getattr(fc, 'out_features', None))

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        mask = torch.stack([sample.mask for sample in data_samples]).flatten(1).bool()
        latent, taps = self.backbone.forward_taps(inputs, self.taps, mask=mask)
        batch, length, channels = latent.shape  # (B, 1 + N, C)
        pred = self.neck((latent.view(batch * length, channels), ))[0].view(batch, length, -1)
        hog = self.target_generator(inputs)  # (B, N, D)
        state = MIMState(inputs=inputs, pixels=inputs, mask=mask.float(),
                         grid=self.backbone.facts()['patch_grid'], progress=self.progress,
                         taps=taps, target=hog, data_samples=data_samples)
        if self.needs_teacher:
            with torch.no_grad():
                # (B, 1 + N, C): the final-normed tokens on the unmasked images
                state.teacher_tokens = self.teacher['backbone'](inputs, mask=None)[-1]
        loss_module = self.head.loss_module  # MIMHead.loss, on the patch tokens
        loss = call_head_loss(loss_module, loss_module, pred[:, 1:], hog, mask, state=state)
        losses = {'loss_mim' if self.supervisions else 'loss': loss}
        return self.add_component_losses(losses, state)
