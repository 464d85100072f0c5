"""What every DDAE loss shares: the exponent schedule, progress and the dynamic weights."""
import math
import warnings
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS

from ...validation import check_dict, check_int, check_number
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


class DistanceWeighting:
    """Mixin for a loss module (METHODS.md, DDAE; ours): g = schedule(depth, t), with t set
    by :class:`TrainingProgressHook` through :meth:`set_progress`, and the per-patch
    weights ``d_j ** g`` renormalised to mean 1 over each image's masked patches.

    Call :meth:`setup_weighting` in ``__init__``.
    """

    def setup_weighting(self, depth: float = 1.0, schedule: Optional[dict] = None,
                        metric: str = 'euclidean',
                        grid: Optional[Sequence[int]] = None) -> None:
        name = type(self).__name__
        # the supervised block / the number of blocks
        self.depth = check_number(depth, f'{name}.depth', 0, 1, open_min=True)
        self.metric = check_metric(metric, key=f'{name}.metric')
        if grid is not None:
            if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or \
                    len(grid) != 2:
                raise TypeError(f'{name}.grid: expected the patch grid (height, width), '
                                f'got {grid!r}')
            grid = tuple(check_int(side, f'{name}.grid', minimum=1) for side in grid)
        self.grid = grid
        check_dict(schedule, f'{name}.schedule', "a dict such as "
                   "dict(type='DepthProgressExponent', shallow=1.0, deep=-1.0)")
        try:
            self.schedule = MODELS.build(schedule or dict(type='DepthProgressExponent'))
        except (TypeError, ValueError) as e:
            raise type(e)(f'{name}.schedule: {e}') from e
        check_schedule(self.schedule, self.depth, self.grid, key=f'{name}.schedule')
        self.progress = 0.0
        self._progress_set = False

    def set_progress(self, progress: float) -> None:
        self.progress = progress
        self._progress_set = True

    def exponent(self) -> float:
        """g at this loss's depth and the current progress (a Python float: no sync)."""
        if self.training and not self._progress_set:
            self._progress_set = True  # warn once
            warnings.warn(f'{type(self).__name__}: training without TrainingProgressHook '
                          f'(custom_hooks replaced?): the DDAE schedule stays at t = 0, '
                          f'i.e. g = {self.schedule(self.depth, 0.0):g}', stacklevel=2)
        return self.schedule(self.depth, self.progress)

    def patch_grid(self, mask: torch.Tensor) -> Tuple[int, int]:
        """The configured grid, that of a (B, h, w) mask, or the square of a (B, N) one."""
        if self.grid is not None:
            return self.grid
        if mask.dim() == 3:
            return tuple(mask.shape[1:])
        side = math.isqrt(mask.shape[-1])
        if side * side != mask.shape[-1]:
            raise ValueError(f'grid: {mask.shape[-1]} patches are not a square grid; set grid')
        return side, side

    def dynamic_weights(self, mask: torch.Tensor,
                        distances: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, N) weights for a (B, N) or (B, h, w) mask (nonzero = masked); ``distances``
        (B, N) if the caller computed the map already with this metric."""
        grid = self.patch_grid(mask)
        mask = mask.flatten(1)  # (B, N)
        if distances is None:
            distances = patch_distances(mask, grid, self.metric)
        return distance_weights(distances, mask, self.exponent())
