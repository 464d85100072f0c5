"""DDAE's pixel loss: masked patches weighted by their distance to the visible ones."""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS

from ..utils.distance_map import check_metric, distance_weights, patch_distances

# the largest grid side assumed when checking a schedule without a known grid
_CHECK_SIDE = 64


def check_schedule(schedule, depth: float, grid: Optional[Sequence[int]], key: str) -> None:
    """The exponent g must be finite at every progress, and d ** g representable in fp32
    for every distance the grid allows (1 <= d <= its diagonal)."""
    height, width = grid if grid is not None else (_CHECK_SIDE, _CHECK_SIDE)
    log_max = math.log(math.hypot(height - 1, width - 1) or 1.0)
    for step in range(101):
        g = schedule(depth, step / 100)
        if not isinstance(g, (int, float)) or not math.isfinite(g) or \
                abs(g) * log_max > math.log(torch.finfo(torch.float32).max):
            raise ValueError(f'{key}: the schedule gives g = {g!r} at depth {depth:g}, '
                             f'progress {step / 100:g}; d ** g must be finite for '
                             f'1 <= d <= {math.exp(log_max):.1f} (the grid diagonal)')


@MODELS.register_module()
class DistanceWeightedPixelLoss(PixelReconstructionLoss):
    """mmpretrain's :class:`PixelReconstructionLoss` with DDAE's dynamic weights
    (METHODS.md, DDAE; ours). Same call, ``loss(pred, target, mask)``, so it drops into
    ``MAEPretrainHead(loss=...)``::

        d_j  = distance of masked patch j to the nearest visible patch    (B, N)
        w_j  = d_j ** g(depth, t), renormalised to mean 1 per image       (B, N)
        loss = sum_j w_j * err_j / sum_j mask_j / channel                 ()

    where ``err_j`` is the per-patch error of the parent class. With g = 0, ``w`` is the
    mask and the loss is the parent's exactly. t comes from :class:`TrainingProgressHook`
    through :meth:`set_progress`.

    Args:
        criterion (str): 'L1' or 'L2', as the parent.
        channel (int, optional): as the parent.
        depth (float): the supervised block / number of blocks; 1 for the final output.
        schedule (dict): the exponent schedule, default :class:`DepthProgressExponent`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'.
        grid (Sequence[int], optional): the patch grid (h, w); default square.
    """

    def __init__(self, criterion: str = 'L2', channel: Optional[int] = None,
                 depth: float = 1.0, schedule: Optional[dict] = None,
                 metric: str = 'euclidean', grid: Optional[Sequence[int]] = None) -> None:
        super().__init__(criterion=criterion, channel=channel)
        if not 0.0 < depth <= 1.0:
            raise ValueError(f'depth: expected a fraction of the encoder in (0, 1], '
                             f'got {depth!r}')
        self.depth = float(depth)
        self.metric = check_metric(metric)
        self.grid = tuple(grid) if grid is not None else None
        self.schedule = MODELS.build(schedule or dict(type='DepthProgressExponent'))
        check_schedule(self.schedule, self.depth, self.grid, key='schedule')
        self.progress = 0.0

    def set_progress(self, progress: float) -> None:
        self.progress = progress

    def exponent(self) -> float:
        """g at this loss's depth and the current progress (a Python float: no sync)."""
        return self.schedule(self.depth, self.progress)

    def _grid(self, num_patches: int):
        if self.grid is not None:
            return self.grid
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(f'grid: {num_patches} patches are not a square grid; set grid')
        return side, side

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                distances: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``distances`` (B, N): the mask's distance map, if the caller computed it already
        (with this loss's metric); otherwise it is computed from ``mask``."""
        if mask is None:
            return super().forward(pred, target, None)
        loss = self.penalty(pred, target)  # (B, N, D) or (B, N)
        if loss.dim() == 3:
            loss = loss.mean(dim=-1)  # (B, N)
        if distances is None:
            distances = patch_distances(mask, self._grid(mask.shape[-1]), self.metric)
        weights = distance_weights(distances, mask, self.exponent())  # (B, N)
        return (loss * weights).sum() / mask.sum() / self.channel


@MODELS.register_module()
class DistanceWeightedFeatureLoss(DistanceWeightedPixelLoss):
    """:class:`DistanceWeightedPixelLoss` for feature targets (METHODS.md, DDAE: the
    intermediate decoders regress the EMA teacher's patch features, layer-normalised; ours).

    The target (B, N, C) is layer-normalised over C without affine parameters (as the
    pixel head's norm_pix normalises each patch) before the weighted L2 (or L1) error.

    Args:
        normalize_target (bool): layer-normalise the target.
        **kwargs: :class:`DistanceWeightedPixelLoss`'s arguments.
    """

    def __init__(self, normalize_target: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.normalize_target = normalize_target

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                distances: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.normalize_target:
            target = F.layer_norm(target, target.shape[-1:], eps=1e-6)  # (B, N, C)
        return super().forward(pred, target, mask, distances)
