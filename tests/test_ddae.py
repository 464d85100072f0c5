"""DDAE: the distance map."""
import itertools
import math

import pytest
import torch

from mim_deepsup.models.utils.distance_map import patch_distances

METRIC_FNS = {
    'euclidean': lambda dy, dx: math.hypot(dy, dx),
    'manhattan': lambda dy, dx: abs(dy) + abs(dx),
    'chebyshev': lambda dy, dx: max(abs(dy), abs(dx)),
}


def brute_force(mask, height, width, metric):
    """Loop over every patch and every visible patch (the definition, slowly)."""
    fn = METRIC_FNS[metric]
    out = torch.zeros(mask.shape)
    for b in range(mask.shape[0]):
        visible = [(i // width, i % width) for i in range(height * width) if not mask[b, i]]
        for j in range(height * width):
            if mask[b, j]:
                y, x = divmod(j, width)
                out[b, j] = min((fn(y - vy, x - vx) for vy, vx in visible),
                                default=float('inf'))
    return out


@pytest.mark.parametrize('grid, metric', list(itertools.product(
    [(4, 4), (7, 5), (14, 14)], ['euclidean', 'manhattan', 'chebyshev'])))
def test_distance_map_matches_brute_force_on_random_masks(grid, metric):
    height, width = grid
    generator = torch.Generator().manual_seed(height * 100 + width)
    for ratio in (0.5, 0.75, 0.9):
        mask = (torch.rand(3, height * width, generator=generator) < ratio).float()
        got = patch_distances(mask, grid, metric)
        assert torch.allclose(got, brute_force(mask, height, width, metric))


def test_distance_map_on_a_hand_drawn_mask():
    # 1 = masked; the only visible patch is the centre of a 5 x 5 grid
    mask = torch.ones(1, 25)
    mask[0, 12] = 0
    euclid = patch_distances(mask, (5, 5)).view(5, 5)
    assert euclid[2, 2] == 0 and euclid[0, 0] == pytest.approx(math.sqrt(8))
    assert euclid[2, 4] == 2 and euclid[1, 2] == 1
    cheb = patch_distances(mask, (5, 5), 'chebyshev').view(5, 5)
    assert cheb[0, 0] == 2 and cheb[1, 1] == 1
    manh = patch_distances(mask, (5, 5), 'manhattan').view(5, 5)
    assert manh[0, 0] == 4 and manh[0, 1] == 3
    # a BEiT-style block: a 2 x 3 masked block in the corner of a 4 x 4 grid, bool mask
    block = torch.zeros(1, 4, 4, dtype=torch.bool)
    block[0, :2, :3] = True
    d = patch_distances(block.flatten(1), (4, 4)).view(4, 4)
    assert d[0, 0] == 2 and d[0, 2] == 1 and d[1, 1] == 1 and d[3, 3] == 0


def test_distance_map_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown distance metric 'cosine'"):
        patch_distances(torch.zeros(1, 16), (4, 4), 'cosine')
    with pytest.raises(ValueError, match='mask has 16 patches, the grid 5 x 5 has 25'):
        patch_distances(torch.zeros(1, 16), (5, 5))


# --- dynamic weights, schedule and the weighted pixel loss --------------------------------

def random_mask(batch, patches, ratio=0.75, seed=0):
    noise = torch.rand(batch, patches, generator=torch.Generator().manual_seed(seed))
    return (noise < ratio).float()


def test_weights_average_one_per_image_over_masked_patches():
    from mim_deepsup.models.utils import distance_weights
    mask = random_mask(4, 49)
    d = patch_distances(mask, (7, 7))
    for g in (-1.5, 0.7, 2.0):
        w = distance_weights(d, mask, g)
        assert torch.all(w[mask == 0] == 0)
        assert torch.allclose((w * mask).sum(1) / mask.sum(1), torch.ones(4))
    assert torch.equal(distance_weights(d, mask, 0.0), mask)  # g = 0: exactly the mask


def test_hand_computed_weighted_loss():
    from mim_deepsup.models.losses import DistanceWeightedPixelLoss
    loss = DistanceWeightedPixelLoss(grid=(1, 4), schedule=dict(
        type='DepthProgressExponent', shallow=1.0, deep=1.0))  # g = t = 1 below
    loss.set_progress(1.0)
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])  # distances 0, 1, 2, 3
    pred = torch.zeros(1, 4, 2)
    target = torch.tensor([[[9.0, 9.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])  # L2: 1, 4, 9
    # weights 1, 2, 3 renormalised to mean 1: 0.5, 1, 1.5
    expected = (0.5 * 1 + 1.0 * 4 + 1.5 * 9) / 3
    assert loss(pred, target, mask).item() == pytest.approx(expected)


def test_zero_exponent_is_maes_pixel_loss_exactly():
    from mmpretrain.models.losses import PixelReconstructionLoss

    from mim_deepsup.models.losses import DistanceWeightedPixelLoss
    ours = DistanceWeightedPixelLoss(criterion='L2')  # default schedule: g = 0 at t = 0
    mae = PixelReconstructionLoss(criterion='L2')
    generator = torch.Generator().manual_seed(1)
    pred, target = (torch.randn(3, 196, 768, generator=generator) for _ in range(2))
    mask = random_mask(3, 196, seed=2)
    assert ours.exponent() == 0.0
    assert torch.equal(ours(pred, target, mask), mae(pred, target, mask))


@pytest.mark.parametrize('depth, progress, expected', [
    (1 / 3, 0.0, 0.0), (1 / 3, 1.0, 1 / 3), (2 / 3, 1.0, -1 / 3), (1.0, 1.0, -1.0),
    (1.0, 0.5, -0.5), (0.5, 0.7, 0.0)])
def test_default_schedule_values(depth, progress, expected):
    from mim_deepsup.models.utils import DepthProgressExponent
    assert DepthProgressExponent()(depth, progress) == pytest.approx(expected)


def test_schedule_ramp_and_bad_settings_name_the_key():
    from mim_deepsup.models.losses import DistanceWeightedPixelLoss
    from mim_deepsup.models.utils import DepthProgressExponent
    ramp = DepthProgressExponent(shallow=2.0, deep=2.0, start=0.2, end=0.6)
    assert ramp(0.5, 0.1) == 0.0 and ramp(0.5, 0.4) == pytest.approx(1.0)
    assert ramp(0.5, 0.9) == 2.0
    with pytest.raises(ValueError, match='start, end'):
        DepthProgressExponent(start=0.5, end=0.5)
    with pytest.raises(ValueError, match='schedule: the schedule gives g'):
        DistanceWeightedPixelLoss(schedule=dict(type='DepthProgressExponent', deep=-1e4))
    with pytest.raises(ValueError, match="metric: unknown distance metric 'hamming'"):
        DistanceWeightedPixelLoss(metric='hamming')
