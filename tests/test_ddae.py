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
