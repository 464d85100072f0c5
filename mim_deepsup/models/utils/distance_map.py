"""DDAE's distance map: each masked patch's distance to the nearest visible patch."""
from typing import Tuple

import torch

METRICS = ('euclidean', 'manhattan', 'chebyshev')


def check_metric(metric: str, key: str = 'metric') -> str:
    if metric not in METRICS:
        raise ValueError(f'{key}: unknown distance metric {metric!r}; expected one of '
                         f'{", ".join(METRICS)}')
    return metric


def patch_distances(mask: torch.Tensor, grid: Tuple[int, int],
                    metric: str = 'euclidean') -> torch.Tensor:
    """Distance of every patch to the nearest visible patch (METHODS.md, DDAE; ours).

    From the mask alone, for any mask generator, for the whole batch at once on the mask's
    device. Exact and separable: first, along each row, the distance to the nearest
    visible patch of that row; then, down each column, the best combination with the row
    offset (Euclidean: min_k (dr_k^2 + dc_k^2); Manhattan: min_k (|dr_k| + dc_k);
    Chebyshev: min_k max(|dr_k|, dc_k)). The temporaries are (B, h, w, w) and (B, h, h, w):
    B N sqrt(N) values, not B N^2.

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
    check_metric(metric)
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
    """DDAE's dynamic weights (METHODS.md, DDAE; ours): ``w_j = d_j ** g`` on the masked
    patches, renormalised so that each image's masked-patch weights average to 1; 0 on the
    visible ones. ``g = 0`` gives exactly the mask, i.e. MAE's masked mean.

    Args:
        distances: (B, N) from :func:`patch_distances` (>= 1 on masked patches).
        mask: (B, N), nonzero = masked.
        exponent: g.

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
