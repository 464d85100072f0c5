"""DDAE's distance map: each masked patch's distance to the nearest visible patch."""
from functools import lru_cache
from typing import Tuple

import torch

METRICS = ('euclidean', 'manhattan', 'chebyshev')


def check_metric(metric: str, key: str = 'metric') -> str:
    if metric not in METRICS:
        raise ValueError(f'{key}: unknown distance metric {metric!r}; expected one of '
                         f'{", ".join(METRICS)}')
    return metric


@lru_cache(maxsize=16)
def _grid_distances(height: int, width: int, metric: str, device: torch.device) -> torch.Tensor:
    """(N, N) distances between the patches of a height x width grid (row-major)."""
    rows, cols = torch.meshgrid(torch.arange(height, device=device),
                                torch.arange(width, device=device), indexing='ij')
    coords = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()  # (N, 2)
    delta = (coords[:, None, :] - coords[None, :, :]).abs()  # (N, N, 2)
    if metric == 'euclidean':
        return delta.pow(2).sum(-1).sqrt()
    if metric == 'manhattan':
        return delta.sum(-1)
    return delta.amax(-1)  # chebyshev


def patch_distances(mask: torch.Tensor, grid: Tuple[int, int],
                    metric: str = 'euclidean') -> torch.Tensor:
    """Distance of every patch to the nearest visible patch (METHODS.md, DDAE; ours).

    From the mask alone, for any mask generator: one masked minimum over a precomputed
    (N, N) grid-distance table, for the whole batch at once on the mask's device.

    Args:
        mask: (B, N), nonzero = masked (MAE's 1 = removed, BEiT's True = masked), row-major
            over the patch grid.
        grid: (h, w) with h * w = N.
        metric: 'euclidean', 'manhattan' or 'chebyshev', in patch units.

    Returns:
        (B, N) float: 0 for visible patches, >= 1 for masked ones; ``inf`` in an image with
        no visible patch at all.
    """
    height, width = grid
    if mask.shape[-1] != height * width:
        raise ValueError(f'mask has {mask.shape[-1]} patches, the grid {height} x {width} '
                         f'has {height * width}')
    table = _grid_distances(height, width, check_metric(metric), mask.device)  # (N, N)
    masked = mask.bool()  # (B, N)
    # (B, N, N): distance from patch j (rows) to patch i (columns), inf where i is masked
    to_visible = torch.where(masked[:, None, :], float('inf'), table)
    return to_visible.amin(dim=-1)  # (B, N)


def distance_weights(distances: torch.Tensor, mask: torch.Tensor,
                     exponent: float) -> torch.Tensor:
    """DDAE's dynamic weights (METHODS.md, DDAE; ours): ``w_j = d_j ** g`` on the masked
    patches, renormalised so that each image's masked-patch weights average to 1; 0 on the
    visible ones. ``g = 0`` gives exactly the mask, i.e. MAE's masked mean.

    Args:
        distances: (B, N) from :func:`patch_distances` (>= 1 on masked patches).
        mask: (B, N), nonzero = masked.
        exponent: g.

    Returns:
        (B, N) float weights, sum over each image's masked patches = their number.
    """
    masked = mask.bool()  # (B, N)
    # visible patches get d = 1 before the power (0 ** negative g would be inf), then 0
    powered = torch.where(masked, distances, torch.ones_like(distances)).pow(exponent)
    weights = powered * masked  # (B, N)
    count = masked.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1) masked patches per image
    mean = weights.sum(dim=1, keepdim=True) / count  # (B, 1), > 0 when any is masked
    return weights / mean.clamp(min=torch.finfo(weights.dtype).tiny)
