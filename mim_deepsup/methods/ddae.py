"""DDAE: deep dynamic supervision (docs/methods.md, DDAE).

Masked-patch losses weighted by each patch's distance to the visible patches, with an
exponent that changes with the supervised depth and training progress; intermediate
blocks regress the EMA teacher's features with the same weights::

    d_j      = distance of masked patch j to the nearest visible patch   (B, N), once a step
    g        = schedule(depth, t),  depth = l / L,  t = training progress
    w_j      = d_j ** g on masked patches, renormalised to mean 1 per image (B, N)
    loss_mim = sum_j w_j err_j / sum_j mask_j / channel     (final decoder, depth 1)
    target   = LN(teacher's final-normed patch tokens of the unmasked image)  (B, N, C)
    loss_l   = v_l * sum_j w_lj || pred_lj - target_j ||^2 / C / sum_j mask_j   (taps l)

Parts: :func:`patch_distances`, :func:`distance_weights` and the schedule
:class:`DDAEExponentSchedule`; the losses :class:`DDAEPixelLoss` (in MAE's head),
:class:`DDAEFeatureLoss`, :class:`DDAEBEiTV2Head` (BEiT-v2's head) and
:class:`DDAESimMIMHead` (SimMIM's, on its mask grid); the component
:class:`DDAESupervision` (light decoders on blocks L/3 and 2L/3). The losses read the
step's state (they are :class:`ReadsState`): its mask, grid, progress and the distance
map, computed once per step for every loss of the same metric.

Where each choice comes from: the distance weighting, its dependence on depth and
progress, and self-distillation of intermediate layers from an EMA teacher are the
paper's; the authors published no formula, so every constant here is ours (the schedule,
the renormalisation, the taps, the light decoders, the layer-normalised feature target).
"""
import itertools
import math
import warnings
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import ModuleDict
from mmpretrain.models.heads import BEiTV2Head, SimMIMHead
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS
from torch import nn

from ..core.component import BaseSupervision, check_taps, default_taps, per_tap
from ..core.head_loss import ReadsState
from ..core.state import MIMState
from ..core.validation import build, check_bool, check_choice, check_dict, check_int, check_number
from .deepmim import LIGHT_DECODER

METRICS = ('euclidean', 'manhattan', 'chebyshev')
# ours: blocks 4 and 8 of ViT-B's 12
DEFAULT_TAP_FRACTIONS = (1 / 3, 2 / 3)
# the largest grid side for which a schedule's d ** g is checked to be finite in fp32
CHECK_SIDE = 64


def patch_distances(mask: torch.Tensor, grid: Tuple[int, int],
                    metric: str = 'euclidean') -> torch.Tensor:
    """Distance of every patch to the nearest visible patch.

    From the mask alone, for any mask generator, for the whole batch at once on the mask's
    device. Exact and separable: first, along each row, the distance to the nearest
    visible patch of that row; then, down each column, the best combination with the row
    offset (Euclidean: min_k (dr_k^2 + dc_k^2); Manhattan: min_k (|dr_k| + dc_k);
    Chebyshev: min_k max(|dr_k|, dc_k)). The temporaries are (B, h, w, w) and (B, h, h, w):
    B N sqrt(N) values, not B N^2.

    Args:
        mask (torch.Tensor): (B, N), nonzero = masked (MAE's 1 = removed, BEiT's True =
            masked), row-major over the patch grid.
        grid (Tuple[int, int]): (h, w) with h * w = N.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev', in patch units.
            Defaults to 'euclidean'.

    Returns:
        (B, N) float: 0 for visible patches, >= 1 for masked ones; ``inf`` in an image with
        no visible patch at all.
    """
    height, width = grid
    if mask.shape[-1] != height * width:
        raise ValueError(f'mask has {mask.shape[-1]} patches, the grid {height} x {width} '
                         f'has {height * width}')
    visible = ~mask.bool().view(-1, height, width)  # (B, h, w)
    cols = torch.arange(width, device=mask.device, dtype=torch.float32)
    rows = torch.arange(height, device=mask.device, dtype=torch.float32)
    col_offset = (cols[:, None] - cols[None, :]).abs()  # (w, w): |j - i|
    # (B, h, w, w): |j - i| to every visible patch i of the same row, inf elsewhere
    in_row = torch.where(visible[:, :, None, :], col_offset, float('inf'))
    dc = in_row.amin(dim=-1)  # (B, h, w): column distance within row k
    row_offset = (rows[:, None] - rows[None, :]).abs()[None, :, :, None]  # (1, h, h, 1)
    dc = dc[:, None, :, :]  # (B, 1, h_k, w)
    if metric == 'euclidean':
        dist = (row_offset.pow(2) + dc.pow(2)).amin(dim=2).sqrt()  # (B, h, w)
    elif metric == 'manhattan':
        dist = (row_offset + dc).amin(dim=2)
    else:  # chebyshev
        dist = torch.maximum(row_offset, dc).amin(dim=2)
    return dist.flatten(1)  # (B, N)


def distance_weights(distances: torch.Tensor, mask: torch.Tensor,
                     exponent: float) -> torch.Tensor:
    """``w_j = d_j ** g`` on the masked patches, renormalised so that each image's
    masked-patch weights average to 1; 0 on the visible ones. ``g = 0`` gives exactly the
    mask, i.e. MAE's masked mean.

    Args:
        distances (torch.Tensor): (B, N) from :func:`patch_distances` (>= 1 on masked
            patches).
        mask (torch.Tensor): (B, N), nonzero = masked.
        exponent (float): g.

    Returns:
        (B, N) float weights, sum over each image's masked patches = their number (uniform
        in an image with no visible patch).
    """
    masked = mask.bool()  # (B, N)
    # visible patches get d = 1 before the power (0 ** negative g would be inf), then 0;
    # so do the patches of an image without any visible patch (d = inf): uniform weights
    usable = masked & torch.isfinite(distances)
    powered = torch.where(usable, distances, torch.ones_like(distances)).pow(exponent)
    weights = powered * masked  # (B, N)
    count = masked.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1) masked patches per image
    mean = weights.sum(dim=1, keepdim=True) / count  # (B, 1), > 0 when any is masked
    return weights / mean.clamp(min=torch.finfo(weights.dtype).tiny)


@MODELS.register_module()
class DDAEExponentSchedule:
    """g(depth, t), the exponent of the distance weights ``w_j = d_j ** g`` (ours)::

        g(depth, t) = ramp(t) * (shallow + (deep - shallow) * depth)
        ramp(t)     = clip((t - start) / (end - start), 0, 1)

    ``depth`` = supervised block / number of blocks, in (0, 1] (1 = the final output);
    ``t`` = training progress in [0, 1].

    The default (shallow = 1, deep = -1, ramp over the whole run): at t = 0, g = 0
    everywhere, so training starts as MAE; as t grows, shallow supervised layers (g > 0)
    weight far, hard patches more, which need context from across the image, and deep
    layers (g < 0) weight patches next to visible ones more: the paper's "more locality
    inductive bias, especially in deep layers". ViT-B with taps 4, 8 and the final block 12:
    g = t/3, -t/3 and -t.

    Args:
        shallow (float): g at depth 0 once the ramp is complete. Defaults to 1.0.
        deep (float): g at depth 1 once the ramp is complete. Defaults to -1.0.
        start (float): progress where g starts to move from 0. Defaults to 0.0.
        end (float): progress where the ramp is complete (> start). Defaults to 1.0.
    """

    def __init__(self, shallow: float = 1.0, deep: float = -1.0, start: float = 0.0,
                 end: float = 1.0) -> None:
        self.shallow = check_number(shallow, 'shallow')
        self.deep = check_number(deep, 'deep')
        self.start = check_number(start, 'start', minimum=0)
        self.end = check_number(end, 'end')
        if not self.start < self.end:
            raise ValueError(f'start, end: expected 0 <= start < end, got {start}, {end}')

    def __call__(self, depth: float, progress: float) -> float:
        ramp = min(1.0, max(0.0, (progress - self.start) / (self.end - self.start)))
        return ramp * (self.shallow + (self.deep - self.shallow) * depth)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(shallow={self.shallow}, deep={self.deep}, '
                f'start={self.start}, end={self.end})')


def check_schedule(schedule, depths: Sequence[float], key: str, source: str = '') -> None:
    """That ``schedule`` gives a finite g at ``depths`` and every progress, with d ** g finite
    in fp32 for the distances of a grid up to ``CHECK_SIDE`` patches a side; an error names
    ``key`` (and ``source``, where the schedule was stated)."""
    log_max = math.log(math.hypot(CHECK_SIDE - 1, CHECK_SIDE - 1))
    for depth, step in itertools.product(depths, range(101)):
        g = schedule(depth, step / 100)
        if not isinstance(g, (int, float)) or not math.isfinite(g) or \
                abs(g) * log_max > math.log(torch.finfo(torch.float32).max):
            raise ValueError(f'{key}: {source}gives g = {g!r} at depth {depth:g}, progress '
                             f'{step / 100:g}; d ** g must be finite for '
                             f'1 <= d <= {math.exp(log_max):.1f}')


class DistanceWeighting(ReadsState):
    """What every DDAE loss shares: its depth, metric and schedule, checked once in
    :meth:`setup_weighting` (call it in ``__init__``), and :meth:`weights` of a step; the
    algorithm passes the step's state to it (:class:`ReadsState`)."""

    def setup_weighting(self, depth: float, schedule: Optional[dict], metric: str) -> None:
        # config checks
        self.depth = check_number(depth, 'depth', 0, 1, open_min=True)
        self.metric = check_choice(metric, 'metric', METRICS)
        check_dict(schedule, 'schedule', "a dict such as "
                   "dict(type='DDAEExponentSchedule', shallow=1.0, deep=-1.0)")
        self.schedule = build(MODELS, schedule or dict(type='DDAEExponentSchedule'),
                              'schedule')
        check_schedule(self.schedule, [self.depth], 'schedule')
        self._warned = False

    def exponent(self, state: MIMState) -> float:
        """g at this loss's depth and the step's progress (a Python float: no sync)."""
        progress = state.progress
        if progress is None:
            if self.training and not self._warned:
                self._warned = True
                warnings.warn(f'{type(self).__name__}: training without '
                              f'TrainingProgressHook (custom_hooks replaced?): the DDAE '
                              f'schedule stays at t = 0, i.e. g = '
                              f'{self.schedule(self.depth, 0.0):g}', stacklevel=3)
            progress = 0.0
        return self.schedule(self.depth, progress)

    def weights(self, state: MIMState) -> torch.Tensor:
        """(B, N) the step's weights at this loss's depth; the distance map is computed
        once per step and metric, for every DDAE loss."""
        distances = state.once(('ddae_distances', self.metric),
                               lambda: patch_distances(state.mask, state.grid, self.metric))
        return distance_weights(distances, state.mask, self.exponent(state))


@MODELS.register_module()
class DDAEPixelLoss(DistanceWeighting, PixelReconstructionLoss):
    """mmpretrain's :class:`PixelReconstructionLoss` with DDAE's dynamic weights, for the
    final decoder: ``MAEPretrainHead(loss=dict(type='DDAEPixelLoss'))`` in a
    ``ComposableMAE``::

        loss = sum_j w_j * err_j / sum_j mask_j / channel     ()

    where ``err_j`` (B, N) is the parent's per-patch error. With g = 0, ``w`` is the mask
    and the loss is the parent's exactly.

    Args:
        criterion (str): 'L1' or 'L2', as the parent. Defaults to 'L2'.
        channel (int, optional): as the parent. Defaults to None.
        depth (float): the supervised block / number of blocks; 1 for the final output.
            Defaults to 1.0.
        schedule (dict, optional): the exponent schedule. Defaults to None, i.e.
            :class:`DDAEExponentSchedule`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'. Defaults to 'euclidean'.
    """

    def __init__(self, criterion: str = 'L2', channel: Optional[int] = None,
                 depth: float = 1.0, schedule: Optional[dict] = None,
                 metric: str = 'euclidean') -> None:
        # config checks
        check_choice(criterion, 'criterion', ('L1', 'L2'))
        if channel is not None:
            check_int(channel, 'channel', minimum=1)
        super().__init__(criterion=criterion, channel=channel)
        self.setup_weighting(depth, schedule, metric)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                state: MIMState) -> torch.Tensor:
        """``pred``, ``target`` (B, N, D); ``mask`` (B, N), 1 = masked; the step's state."""
        loss = self.penalty(pred, target)  # (B, N, D) or (B, N)
        if loss.dim() == 3:
            loss = loss.mean(dim=-1)  # (B, N)
        return (loss * self.weights(state)).sum() / mask.sum() / self.channel


@MODELS.register_module()
class DDAEFeatureLoss(DDAEPixelLoss):
    """:class:`DDAEPixelLoss` for feature targets (ours): the target (B, N, C) is
    layer-normalised over C without affine parameters (as norm_pix normalises each patch)
    before the weighted L2 (or L1) error.

    Args:
        normalize_target (bool): layer-normalise the target. Defaults to True.
        **kwargs: :class:`DDAEPixelLoss`'s arguments.
    """

    def __init__(self, normalize_target: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.normalize_target = check_bool(normalize_target, 'normalize_target')

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                state: MIMState) -> torch.Tensor:
        if self.normalize_target:
            target = F.layer_norm(target, target.shape[-1:], eps=1e-6)  # (B, N, C)
        return super().forward(pred, target, mask, state)


@MODELS.register_module()
class DDAEBEiTV2Head(DistanceWeighting, BEiTV2Head):
    """mmpretrain's :class:`BEiTV2Head` whose cross-entropy over the masked patches is
    weighted by the distance weights (DDAE's migration to BEiT-v2; ours)::

        w      = d ** g(depth, t) on the masked patches, mean 1 per image   (B, N)
        ce     = cross-entropy of each masked patch's logits vs its code    (M,)
        loss_i = mean over the M masked patches of w * ce                   (), i = 1, 2

    for both of BEiT-v2's terms (the final layer's and the late cls-pretraining layers'),
    from BEiT's block-wise mask. With g = 0 it is BEiTV2Head's loss.

    Args:
        depth (float): the supervised depth fraction. Defaults to 1.0 (the final output).
        schedule (dict, optional): the exponent schedule. Defaults to None, i.e.
            :class:`DDAEExponentSchedule`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'. Defaults to 'euclidean'.
        **kwargs: :class:`BEiTV2Head`'s arguments (embed_dims, num_embed, loss).
    """

    def __init__(self, depth: float = 1.0, schedule: Optional[dict] = None,
                 metric: str = 'euclidean', **kwargs) -> None:
        super().__init__(**kwargs)
        self.setup_weighting(depth, schedule, metric)

    def loss(self, feats: torch.Tensor, feats_cls_pt: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor, state: MIMState) -> Tuple[torch.Tensor, torch.Tensor]:
        # one index of the M masked patches among the B * N (one host sync, where
        # BEiTV2Head's boolean indexing costs three)
        index = mask.flatten().nonzero().squeeze(1)  # (M,)
        weights = self.weights(state).flatten()[index]  # (M,)
        target = target.flatten()[index]  # (M,) codes
        logits = self.cls_head(feats.flatten(0, 1)[index])  # (M, num_embed)
        logits_cls_pt = self.cls_head(feats_cls_pt.flatten(0, 1)[index])
        loss_1 = self.loss_module(logits, target, weight=weights)
        loss_2 = self.loss_module(logits_cls_pt, target, weight=weights)
        return loss_1, loss_2


@MODELS.register_module()
class DDAESimMIMHead(DistanceWeighting, SimMIMHead):
    """mmpretrain's :class:`SimMIMHead` whose masked-pixel loss is weighted by the distance
    weights, computed on the mask's own grid (DDAE's migration to SimMIM; ours)::

        m'     = the mask on its grid of mask patches (B, H / q, W / q), q = mask_patch_size
        w      = d(m') ** g(depth, t) on the masked mask patches, mean 1 per image
        loss   = sum over pixels of w * err / sum of the pixel mask / channel

    SimMIM masks whole q x q mask patches (32 px, 8 x 8 of its 4 px patches): distances
    between them are counted in mask patches, so every pixel of a mask patch has its
    weight. ``err`` is the head's per-pixel criterion (SimMIM: L1). With g = 0 it is
    SimMIMHead's loss exactly.

    Args:
        mask_patch_size (int): q, the mask generator's ``mask_patch_size`` in pixels, a
            multiple of ``patch_size``. Defaults to 32.
        depth (float): the supervised depth fraction. Defaults to 1.0 (the final output).
        schedule (dict, optional): the exponent schedule. Defaults to None, i.e.
            :class:`DDAEExponentSchedule`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'. Defaults to 'euclidean'.
        **kwargs: :class:`SimMIMHead`'s arguments (patch_size, loss).
    """

    def __init__(self, mask_patch_size: int = 32, depth: float = 1.0,
                 schedule: Optional[dict] = None, metric: str = 'euclidean',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        # config checks
        self.mask_patch_size = check_int(mask_patch_size, 'mask_patch_size', minimum=1)
        if mask_patch_size % self.patch_size:
            raise ValueError(f'mask_patch_size: expected a multiple of patch_size='
                             f'{self.patch_size}, got {mask_patch_size}')
        self.setup_weighting(depth, schedule, metric)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
             state: MIMState) -> torch.Tensor:
        """``pred``, ``target`` (B, 3, H, W); ``mask`` (B, h, w) on the patch grid."""
        step = self.mask_patch_size // self.patch_size
        coarse = mask[:, ::step, ::step]  # (B, H / q, W / q): one entry per mask patch
        grid = tuple(coarse.shape[1:])
        distances = state.once(('ddae_distances', self.metric, self.mask_patch_size),
                               lambda: patch_distances(coarse.flatten(1), grid, self.metric))
        weights = distance_weights(distances, coarse.flatten(1), self.exponent(state))
        q = self.mask_patch_size
        pixels = weights.view(-1, 1, *grid).repeat_interleave(q, 2).repeat_interleave(q, 3)
        err = self.loss_module.penalty(pred, target)  # (B, 3, H, W)
        fine = mask.repeat_interleave(self.patch_size, 1).repeat_interleave(
            self.patch_size, 2).unsqueeze(1)  # (B, 1, H, W), SimMIMHead's pixel mask
        return (err * pixels).sum() / fine.sum() / self.loss_module.channel


def final_weighting(head: Optional[dict]) -> Optional[Tuple[str, dict]]:
    """The key and config of the algorithm's DDAE final loss in its ``head`` config
    (``model.head.loss`` of MAE's and MaskFeat's heads, ``model.head`` for
    :class:`DDAEBEiTV2Head` and :class:`DDAESimMIMHead`), or None when it is not DDAE's."""
    if not isinstance(head, dict):
        return None
    for key, cfg in (('model.head', head), ('model.head.loss', head.get('loss'))):
        cls = cfg.get('type') if isinstance(cfg, dict) else None
        cls = MODELS.get(cls) if isinstance(cls, str) else cls
        if isinstance(cls, type) and issubclass(cls, DistanceWeighting):
            return key, cfg
    return None


def same_weighting(metric: Optional[str], schedule: Optional[dict], head: Optional[dict],
                   depths: Sequence[float]) -> Tuple[str, Optional[dict]]:
    """The taps' metric and schedule: the final loss's where the taps leave them out (its
    schedule then checked at the taps' ``depths``, under its own key), and an error naming
    both keys where they differ (DDAE has one schedule for every depth)."""
    final = final_weighting(head)
    key, cfg = final if final is not None else ('', {})
    final_metric = check_choice(cfg.get('metric', 'euclidean'), f'{key}.metric', METRICS)
    metric = final_metric if metric is None else check_choice(metric, 'metric', METRICS)
    if final is None:
        return metric, schedule
    if metric != final_metric:
        raise ValueError(f'metric: {metric!r}, but {key}.metric is {final_metric!r}: the '
                         f'taps and the final loss measure distances alike; set it once, '
                         f'in {key}')
    default = dict(type='DDAEExponentSchedule')
    if schedule is None:
        inherited = cfg.get('schedule')
        check_schedule(build(MODELS, inherited or default, f'{key}.schedule'), depths,
                       'loss.schedule', f'taken from {key}.schedule, ')
        return metric, inherited
    mine, theirs = (build(MODELS, s or default, name) for s, name in (
        (schedule, 'loss.schedule'), (cfg.get('schedule'), f'{key}.schedule')))
    if type(mine) is not type(theirs) or vars(mine) != vars(theirs):
        raise ValueError(f'loss.schedule: {mine!r}, but {key}.schedule is {theirs!r}: DDAE '
                         f'has one exponent schedule g(depth, t) for every depth; set it '
                         f'once, in {key}.schedule')
    return metric, schedule


@MODELS.register_module()
class DDAESupervision(BaseSupervision):
    """DDAE's intermediate supervision: light decoders on intermediate blocks, each
    regressing the EMA teacher's patch features with the distance weights (the module
    docstring's ``loss_l``), logged as ``loss_l4``, ``loss_l8`` (prefixed with the
    component's name).

    For every tapped block l, a light predictor reads the block's raw output and predicts
    a C-wide feature for every patch: on MAE (taps of the visible tokens) a light MAE
    decoder (:class:`DeepMIMDecoders`); on BEiT (taps of every position, mask tokens
    included) a LayerNorm + Linear(C, C) per tap. The final decoder is the algorithm's
    own; give its head a :class:`DDAEPixelLoss` (or use :class:`DDAEBEiTV2Head`) for
    DDAE's dynamic final loss.

    Args:
        taps (Sequence[int], optional): intermediate blocks (from 1). Defaults to None,
            i.e. 1/3 and 2/3 of the depth (ViT-B: 4 and 8).
        weights (Sequence[float], optional): v_l >= 0, one per tap. Defaults to None,
            i.e. 1.0 each.
        decoder (dict, optional): the MAE decoders' shape (:class:`DeepMIMDecoders`
            arguments). Defaults to None, i.e. 256-d x 2 blocks x 8 heads.
        loss (dict, optional): overrides of each tap's :class:`DDAEFeatureLoss` (criterion,
            schedule, normalize_target); its depth (l / L) and metric are this component's.
            Its ``schedule`` defaults to the final loss's (``model.head.loss.schedule``, or
            ``model.head.schedule`` for BEiT-v2's DDAE head): DDAE has one
            schedule for every depth, so a different one is an error naming both keys.
            Defaults to None, i.e. no overrides.
        metric (str, optional): the distance metric, shared by every tap; a different one
            from the final loss's is an error naming both keys. Defaults to None, i.e. the
            final loss's, else 'euclidean'.
        num_layers (int): the backbone's number of blocks L, filled in by the algorithm.
            Defaults to 12.
        embed_dims (int): the backbone's width C, filled in by the algorithm.
            Defaults to 768.
        patch_size (int): the backbone's patch size, filled in by the algorithm.
            Defaults to 16.
        num_patches (int): the backbone's number of patches N, filled in by the algorithm.
            Defaults to 196.
        layout (str): the taps' layout, ``'visible'`` (MAE) or ``'all'`` (BEiT), filled in
            by the algorithm. Defaults to 'visible'.
        head (dict, optional): the algorithm's head config, where the final loss is,
            filled in by the algorithm. Defaults to None.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None.
    """

    needs_teacher = True
    algorithm_args = ('num_layers', 'embed_dims', 'patch_size', 'num_patches', 'layout', 'head')
    tap_layout = None  # MAE ('visible') and BEiT ('all') alike

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 decoder: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 metric: Optional[str] = None,
                 num_layers: int = 12,
                 embed_dims: int = 768,
                 patch_size: int = 16,
                 num_patches: int = 196,
                 layout: str = 'visible',
                 head: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        # config checks
        taps = check_taps(default_taps(num_layers, DEFAULT_TAP_FRACTIONS) if taps is None
                          else taps, num_layers)
        self.weights = per_tap(weights, taps, [1.0] * len(taps), 'weights', minimum=0)
        check_choice(layout, 'layout', ('visible', 'all'))
        check_dict(decoder, 'decoder', 'a dict of DeepMIMDecoders arguments')
        loss = dict(check_dict(loss, 'loss', 'a dict of DDAEFeatureLoss arguments') or {})
        shared = sorted({'depth', 'metric'} & set(loss))
        if shared:
            raise ValueError(f'loss.{shared[0]}: set by DDAESupervision for every tap '
                             f'(depth = tap / num_layers, metric = its metric argument); '
                             f'remove it from loss')
        metric, loss['schedule'] = same_weighting(metric, loss.get('schedule'), head,
                                                  [block / num_layers for block in taps])
        if layout == 'all' and decoder is not None:
            raise ValueError('decoder: BEiT taps are read by LayerNorm + Linear heads, '
                             'which have no decoder shape to set')

        self.taps = self.required_taps = taps
        self.layout = layout
        if layout == 'visible':
            self.decoders = build(MODELS, dict(
                type='DeepMIMDecoders', taps=taps, num_patches=num_patches,
                patch_size=patch_size, embed_dim=embed_dims, predict_feature_dim=embed_dims,
                **dict(LIGHT_DECODER, **(decoder or {}))), 'decoder')
        else:
            self.heads = ModuleDict({
                f'l{block}': nn.Sequential(OrderedDict(
                    ln=nn.LayerNorm(embed_dims, eps=1e-6),
                    fc=nn.Linear(embed_dims, embed_dims)))
                for block in taps
            })
        self.losses = ModuleDict({
            f'l{block}': build(MODELS, dict(dict(type='DDAEFeatureLoss', **loss),
                                            depth=block / num_layers, metric=metric),
                               'loss')
            for block in taps
        })

    def predict(self, state: MIMState) -> Dict[int, torch.Tensor]:
        """block -> (B, N, C) predicted features of every patch."""
        if self.layout == 'visible':
            return self.decoders(state.taps, state.ids_restore)
        # BEiT: (B, 1 + N, C) taps of every position, cls dropped
        return {b: self.heads[f'l{b}'](state.taps[b][:, 1:]) for b in self.taps}

    def loss(self, state: MIMState, teacher) -> Dict[str, torch.Tensor]:
        preds = self.predict(state)  # block -> (B, N, C)
        target = state.teacher_tokens[:, 1:]  # (B, N, C), no gradient, cls dropped
        return {
            f'loss_l{block}': weight * self.losses[f'l{block}'](
                preds[block], target, state.mask, state)
            for block, weight in zip(self.taps, self.weights)
        }
