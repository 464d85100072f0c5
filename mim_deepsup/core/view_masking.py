"""Masks for several views of each image: one noise draw, disjoint visible sets."""
import torch
from mmengine.dist import get_dist_info


def check_view_mask_ratio(mask_ratio: float, num_views: int, key: str) -> None:
    """V views with disjoint visible sets of K = N (1 - r) patches need r >= 1 - 1 / V."""
    if num_views > 1 and mask_ratio < 1 - 1 / num_views:
        raise ValueError(
            f'{key}: expected at least {1 - 1 / num_views:g} for {num_views} views with '
            f'disjoint visible sets (each keeps N * (1 - ratio) patches), got {mask_ratio}')


def mask_noise(batch: int, num_patches: int, device: torch.device) -> torch.Tensor:
    """(B, N) uniform noise for this rank's B images, the same as one process would draw.

    MAE draws ``torch.rand(B, N)`` on each rank. Here the noise of the global batch
    (W * B, N) is drawn and rank r keeps rows r, r + W, ...: the rows mmengine's samplers
    give that rank (they deal indices out round-robin). With the same seed on every rank
    (``randomness.diff_rank_seed=False``) every image then gets the mask it would get in a
    1-process run of the same global batch; with per-rank seeds the masks stay independent
    uniform draws. W = 1 is exactly MAE's draw. Costs W times a (B, N) draw, no sync.
    """
    rank, world_size = get_dist_info()
    noise = torch.rand(world_size * batch, num_patches, device=device)  # (W * B, N)
    return noise[rank::world_size]  # (B, N)


def disjoint_view_masks(noise: torch.Tensor, num_views: int,
                        num_visible: int) -> torch.Tensor:
    """MAE-style ``ids_restore`` for ``num_views`` views of each image (docs/methods.md, LUT).

    One noise draw orders the patches of each image (``ids_shuffle = argsort(noise)``, as
    in MAE); view v keeps ``ids_shuffle[:, v K:(v + 1) K]``, so the views' visible sets are
    disjoint and view 0 keeps exactly what MAE would keep for the same noise. Each view's
    order is ``ids_shuffle`` rotated left by v K, whose inverse permutation is returned.

    Args:
        noise (torch.Tensor): (B, N) one random draw per patch.
        num_views (int): V.
        num_visible (int): K, the visible patches per view; V K <= N.

    Returns:
        (V * B, N) long: view-major ``ids_restore``; the first K of each row's inverse are
        that view's visible patches, and ``ids_restore >= K`` is its mask (1 = removed).
    """
    batch, num_patches = noise.shape
    if num_views * num_visible > num_patches:
        raise ValueError(f'{num_views} views x {num_visible} visible patches exceed the '
                         f'{num_patches} patches of an image: the visible sets cannot be '
                         f'disjoint')
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, N), ascending: small noise is kept
    arange = torch.arange(num_patches, device=noise.device)
    shifts = torch.arange(num_views, device=noise.device) * num_visible
    rotation = (arange + shifts[:, None]) % num_patches  # (V, N)
    view_shuffle = ids_shuffle[:, rotation]  # (B, V, N)
    view_shuffle = view_shuffle.transpose(0, 1).reshape(num_views * batch, num_patches)
    return torch.argsort(view_shuffle, dim=1)  # (V * B, N)
