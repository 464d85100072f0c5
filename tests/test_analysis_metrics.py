import math

import pytest
import torch
import torch.nn.functional as F

from mim_deepsup.analysis.metrics import (
    average_attention_distance,
    cka_matrix,
    dense_probe_miou,
    feature_spectrum,
    head_diversity,
    knn_accuracy,
    knn_predict,
    linear_cka,
    median_frequency_weights,
    patch_label_counts,
)

SQRT2 = math.sqrt(2.0)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _one_hot_maps(targets):
    """(..., N) target patch per query -> (..., N, N) one-hot attention rows."""
    targets = torch.as_tensor(targets)
    return torch.nn.functional.one_hot(targets, targets.shape[-1]).double()


def _with_prefix(patch_maps, prefix_weight=0.0, num_prefix=1):
    """(B, H, N, N) patch-to-patch rows summing to 1 -> (B, H, T, T) attention.

    Each patch query puts ``prefix_weight`` (a number or an (N,) tensor, one per query)
    on the prefix tokens and the rest on the patches in the proportions of
    ``patch_maps``; the prefix queries attend to the last patch only (far from most).
    """
    batch, heads, num, _ = patch_maps.shape
    total = num_prefix + num
    prefix_weight = torch.as_tensor(prefix_weight, dtype=torch.float64).expand(num)
    attn = torch.zeros(batch, heads, total, total, dtype=torch.float64)
    attn[:, :, num_prefix:, num_prefix:] = (1 - prefix_weight)[:, None] * patch_maps
    if num_prefix:
        attn[:, :, num_prefix:, :num_prefix] = (prefix_weight / num_prefix)[:, None]
    attn[:, :, :num_prefix, -1] = 1.0
    return attn


# 2 x 2 grid, patches 0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1)
SELF = _one_hot_maps([0, 1, 2, 3])
HORIZONTAL = _one_hot_maps([1, 0, 3, 2])  # neighbour in the same row: 1 patch away
DIAGONAL = _one_hot_maps([3, 2, 1, 0])  # opposite corner: sqrt(2) patches away
UNIFORM = torch.full((4, 4), 0.25, dtype=torch.float64)  # mean of 0, 1, 1, sqrt(2)
FOUR_HEADS = torch.stack([SELF, UNIFORM, HORIZONTAL, DIAGONAL])[None]  # (1, 4, 4, 4)
FOUR_HEADS_AAD = [0.0, 16 * (2 + SQRT2) / 4, 16.0, 16 * SQRT2]


# ---------------------------------------------------------------- attention distance


def test_aad_known_value_per_head():
    aad = average_attention_distance(_with_prefix(FOUR_HEADS), (2, 2), patch_size=16)
    assert aad.dtype == torch.float64 and aad.shape == (4,)
    torch.testing.assert_close(aad, torch.tensor(FOUR_HEADS_AAD, dtype=torch.float64))


def test_aad_rectangular_grid_is_row_major():
    # 2 x 3 grid, no prefix token: head 0 attends to the patch below/above (1 patch away),
    # head 1 to the mirrored column of the same row (2, 0, 2 patches away)
    other_row = _one_hot_maps([3, 4, 5, 0, 1, 2])
    mirrored = _one_hot_maps([2, 1, 0, 5, 4, 3])
    attn = torch.stack([other_row, mirrored])[None]
    aad = average_attention_distance(attn, (2, 3), patch_size=14, num_prefix=0)
    torch.testing.assert_close(aad, torch.tensor([14.0, 14 * 4 / 3], dtype=torch.float64))


def test_aad_prefix_weight_is_renormalised_away():
    expected = torch.tensor(FOUR_HEADS_AAD, dtype=torch.float64)
    prefix_weight = torch.tensor([0.0, 0.3, 0.6, 0.9], dtype=torch.float64)  # per query
    for num_prefix in (1, 2):
        attn = _with_prefix(FOUR_HEADS, prefix_weight, num_prefix)
        torch.testing.assert_close(attn.sum(-1), torch.ones(1, 4, 4 + num_prefix,
                                                            dtype=torch.float64))
        aad = average_attention_distance(attn, (2, 2), patch_size=16, num_prefix=num_prefix)
        torch.testing.assert_close(aad, expected)
    # without the renormalisation the prefix weight would shrink the distances
    pixel_dist = 16 * torch.cdist(torch.tensor([[0., 0], [0, 1], [1, 0], [1, 1]]).double(),
                                  torch.tensor([[0., 0], [0, 1], [1, 0], [1, 1]]).double())
    naive = (attn[:, :, 2:, 2:] * pixel_dist).sum(-1).mean(dim=(0, 2))
    torch.testing.assert_close(naive, expected * (1 - prefix_weight.mean()))
    assert (naive[1:] < expected[1:] - 1).all()


def test_aad_averages_over_images():
    attn = _with_prefix(torch.stack([SELF, HORIZONTAL])[:, None])  # (2, 1, 4, 4)
    aad = average_attention_distance(attn, (2, 2), patch_size=16)
    torch.testing.assert_close(aad, torch.tensor([8.0], dtype=torch.float64))


def test_aad_query_entirely_on_prefix_is_left_out():
    # query 0 attends only to cls (no patch distance), the others 1 patch away
    attn = _with_prefix(HORIZONTAL[None, None], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    aad = average_attention_distance(attn, (2, 2), patch_size=16)
    torch.testing.assert_close(aad, torch.tensor([16.0], dtype=torch.float64))


def test_aad_bad_inputs():
    attn = _with_prefix(FOUR_HEADS)
    with pytest.raises(ValueError, match='^attn:'):
        average_attention_distance(attn[0], (2, 2), 16)
    with pytest.raises(ValueError, match='^attn:'):
        average_attention_distance(attn[..., :-1], (2, 2), 16)
    with pytest.raises(ValueError, match='^attn:'):
        average_attention_distance(attn, (3, 3), 16)
    with pytest.raises(ValueError, match='^grid:'):
        average_attention_distance(attn, (4,), 16)
    with pytest.raises(ValueError, match='^patch_size:'):
        average_attention_distance(attn, (2, 2), 0)
    with pytest.raises(ValueError, match='^num_prefix:'):
        average_attention_distance(attn, (2, 2), 16, num_prefix=5)


# ---------------------------------------------------------------- CKA


def _related_pair(n=300, seed=0):
    gen = _gen(seed)
    x = torch.randn(n, 12, generator=gen)
    y = x @ torch.randn(12, 7, generator=gen) + 0.5 * torch.randn(n, 7, generator=gen)
    return x, y


def test_cka_of_itself_is_one():
    x, _ = _related_pair()
    value = linear_cka(x, x)
    assert value.dtype == torch.float64 and value.dim() == 0
    assert value.item() == pytest.approx(1.0, abs=1e-12)


def test_cka_of_one_dimensional_features_is_squared_correlation():
    x, y = _related_pair()
    corr = torch.corrcoef(torch.stack([x[:, 0], y[:, 0]]).double())[0, 1]
    assert linear_cka(x[:, :1], y[:, :1]).item() == pytest.approx(corr.item()**2, abs=1e-10)


def test_cka_invariances():
    x, y = _related_pair()
    base = linear_cka(x, y).item()
    assert 0.2 < base < 0.99
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=_gen(1)))
    assert linear_cka(x @ rotation, y).item() == pytest.approx(base, abs=1e-6)
    assert linear_cka(x, 3.7 * y).item() == pytest.approx(base, abs=1e-6)
    assert linear_cka(x + 5.0, y).item() == pytest.approx(base, abs=1e-6)  # centring
    # a non-isotropic scaling is not a similarity transform: the value moves
    stretch = torch.linspace(0.1, 10.0, 7)
    assert abs(linear_cka(x, y * stretch).item() - base) > 1e-2


def test_cka_of_independent_features_is_small():
    gen = _gen(2)
    x, y = torch.randn(4000, 8, generator=gen), torch.randn(4000, 8, generator=gen)
    assert linear_cka(x, y).item() < 0.05


def test_cka_matrix_matches_pairwise():
    x, y = _related_pair()
    z = torch.randn(300, 20, generator=_gen(3))
    features = [x, y, torch.tanh(x[:, :5]), z]
    cka = cka_matrix(features)
    assert cka.shape == (4, 4) and cka.dtype == torch.float64
    torch.testing.assert_close(cka, cka.T, rtol=0, atol=0)
    torch.testing.assert_close(cka.diagonal(), torch.ones(4, dtype=torch.float64))
    for i in range(4):
        for j in range(4):
            if i != j:
                torch.testing.assert_close(cka[i, j], linear_cka(features[i], features[j]))


def test_cka_bad_inputs():
    x, y = _related_pair()
    with pytest.raises(ValueError, match='^x:'):
        linear_cka(x[:, 0], y)
    with pytest.raises(ValueError, match='^y:'):
        linear_cka(x, y[:-1])
    with pytest.raises(ValueError, match='^features:'):
        cka_matrix([])
    with pytest.raises(ValueError, match=r'^features\[1\]:'):
        cka_matrix([x, y[:-1]])


# ---------------------------------------------------------------- head diversity


def test_head_diversity_identical_heads_is_zero():
    one_head = torch.softmax(torch.randn(2, 1, 5, 5, generator=_gen(4)), dim=-1)
    value = head_diversity(one_head.expand(2, 4, 5, 5))
    assert value.dtype == torch.float64 and value.dim() == 0
    assert abs(value.item()) < 1e-12


def test_head_diversity_two_heads_one_query_closed_form():
    p, q = [0.1, 0.3, 0.6], [0.5, 0.25, 0.25]
    # two prefix tokens (their rows differ a lot between heads, but are no queries) and one
    # patch query
    attn = torch.tensor([[[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], p],
                          [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], q]]])
    kl_pq = sum(a * math.log(a / b) for a, b in zip(p, q))
    kl_qp = sum(b * math.log(b / a) for a, b in zip(p, q))
    value = head_diversity(attn, num_prefix=2)
    assert value.item() == pytest.approx((kl_pq + kl_qp) / 2, rel=1e-6)


def test_head_diversity_matches_brute_force():
    batch, heads, tokens, num_prefix, eps = 2, 3, 5, 1, 1e-8
    attn = torch.softmax(2 * torch.randn(batch, heads, tokens, tokens, generator=_gen(5)), -1)
    attn[0, 1, 2, 3] = 0.0  # an exact zero exercises the eps clamp
    attn = (attn / attn.sum(-1, keepdim=True)).double()
    log_attn = attn.clamp_min(eps).log()
    kls = []
    for b in range(batch):
        for i in range(heads):
            for j in range(heads):
                if i == j:
                    continue
                for q in range(num_prefix, tokens):
                    p_i = attn[b, i, q]
                    kls.append((p_i * (log_attn[b, i, q] - log_attn[b, j, q])).sum())
    expected = torch.stack(kls).mean()
    value = head_diversity(attn, num_prefix=num_prefix, eps=eps)
    torch.testing.assert_close(value, expected)
    assert value.item() > 0.1


def test_head_diversity_bad_inputs():
    attn = torch.softmax(torch.randn(1, 2, 5, 5, generator=_gen(6)), dim=-1)
    with pytest.raises(ValueError, match='^attn:'):
        head_diversity(attn[:, :1])
    with pytest.raises(ValueError, match='^attn:'):
        head_diversity(attn[0])
    with pytest.raises(ValueError, match='^attn:'):
        head_diversity(attn[..., :4])
    with pytest.raises(ValueError, match='^num_prefix:'):
        head_diversity(attn, num_prefix=5)


# ---------------------------------------------------------------- feature spectrum


def test_feature_spectrum_known_covariance():
    n, s = 64, torch.tensor([3.0, 0.5, 2.0, 1.0, 0.1], dtype=torch.float64)
    gen = _gen(7)
    # zero-mean orthonormal columns: z^T z = n I and mean 0, so cov(z) = I exactly
    base = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    columns, _ = torch.linalg.qr(base - base.mean(0))
    z = math.sqrt(n) * columns
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    # covariance rotation^T diag(s^2) rotation, plus an offset the centring removes
    x = (z * s) @ rotation + 4.0
    spectrum = feature_spectrum(x.float())
    assert spectrum.dtype == torch.float64 and spectrum.shape == (5,)
    torch.testing.assert_close(spectrum, (s**2).sort(descending=True).values,
                               rtol=1e-5, atol=1e-5)


def test_feature_spectrum_rank_deficient_is_non_negative():
    x = torch.randn(4, 10, generator=_gen(8))  # centred rank <= 3
    spectrum = feature_spectrum(x)
    assert spectrum.shape == (10,)
    assert (spectrum >= 0).all()
    assert (spectrum[:-1] >= spectrum[1:]).all()
    assert spectrum[2] > 1e-3 and spectrum[3:].max() < 1e-10


def test_feature_spectrum_bad_inputs():
    with pytest.raises(ValueError, match='^x:'):
        feature_spectrum(torch.randn(10))


# ---------------------------------------------------------------- k-NN


def _blobs(num_per_class, seed):
    gen = _gen(seed)
    centres = torch.zeros(2, 8)
    centres[0, 0] = centres[1, 1] = 10.0  # different directions: far apart in cosine
    labels = torch.arange(2).repeat_interleave(num_per_class)
    return centres[labels] + torch.randn(len(labels), 8, generator=gen), labels


def test_knn_separable_blobs():
    train, train_labels = _blobs(30, seed=9)
    test, test_labels = _blobs(10, seed=10)
    assert knn_accuracy(train, train_labels, test, test_labels, num_classes=2) == 100.0
    preds = knn_predict(train, train_labels, test, num_classes=2, k=5, chunk=3)
    assert preds.dtype == torch.long
    torch.testing.assert_close(preds, test_labels)


# one class-0 neighbour at cosine 1, two class-1 neighbours at cosine 0.5, a class-2 sample
# at cosine -1
TRAIN = torch.tensor([[1.0, 0.0], [0.5, 0.75**0.5], [0.5, -(0.75**0.5)], [-1.0, 0.0]])
TRAIN_LABELS = torch.tensor([0, 1, 1, 2])
TEST = torch.tensor([[2.0, 0.0]])


def test_knn_weighted_vote_beats_majority():
    # exp(1 / 0.07) outweighs 2 exp(0.5 / 0.07); plain majority would say class 1
    assert knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=3).tolist() == [0]
    # with a large temperature the weights are nearly equal: the majority wins
    assert knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=3, temperature=100.0).tolist() == [1]
    # k = 1: only the nearest sample votes
    assert knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=1, temperature=100.0).tolist() == [0]


def test_knn_k_larger_than_training_set():
    preds = knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=100, temperature=100.0)
    assert preds.tolist() == [1]  # all 4 samples vote: two class-1 votes win
    assert knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=100).tolist() == [0]


def test_knn_accuracy_counts_in_percent():
    test = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.1], [-1.0, -0.1]])
    preds = knn_predict(TRAIN, TRAIN_LABELS, test, 3, k=1)
    assert preds.tolist() == [0, 0, 2, 2]
    accuracy = knn_accuracy(TRAIN, TRAIN_LABELS, test, torch.tensor([0, 1, 2, 0]), 3, k=1)
    assert isinstance(accuracy, float) and accuracy == 50.0


def test_knn_bad_inputs():
    with pytest.raises(ValueError, match='^train_labels:'):
        knn_predict(TRAIN, TRAIN_LABELS[:3], TEST, 3)
    with pytest.raises(ValueError, match='^train_labels:'):
        knn_predict(TRAIN, TRAIN_LABELS, TEST, num_classes=2)
    with pytest.raises(ValueError, match='^test_features:'):
        knn_predict(TRAIN, TRAIN_LABELS, torch.ones(1, 3), 3)
    with pytest.raises(ValueError, match='^train_features:'):
        knn_predict(TRAIN[0], TRAIN_LABELS, TEST, 3)
    with pytest.raises(ValueError, match='^test_labels:'):
        knn_accuracy(TRAIN, TRAIN_LABELS, TEST, torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match='^k:'):
        knn_predict(TRAIN, TRAIN_LABELS, TEST, 3, k=0)


def test_knn_uses_cosine_similarity():
    # the long class-1 vector has the larger dot product, the class-0 one the larger cosine
    train = torch.tensor([[1.0, 0.0], [10.0, 10.0]])
    preds = knn_predict(train, torch.tensor([0, 1]), torch.tensor([[1.0, 0.1]]), 2, k=1)
    assert preds.tolist() == [0]
    # the test vector is normalised too: at temperature 1, exp(1) < 2 exp(0.5) (class 1);
    # its norm of 10 would give exp(10) > 2 exp(5) (class 0)
    preds = knn_predict(TRAIN, TRAIN_LABELS, torch.tensor([[10.0, 0.0]]), 3, k=3,
                        temperature=1.0)
    assert preds.tolist() == [1]


# --------------------------------------------------------------------------------------
# dense linear probe
# --------------------------------------------------------------------------------------


def test_patch_label_counts_by_hand():
    # one 4 x 4 map, 2 x 2 patches of 2 x 2 pixels; 255 ignored
    labels = torch.tensor([[[0, 0, 1, 255],
                            [0, 2, 1, 1],
                            [2, 2, 0, 0],
                            [2, 2, 0, 255]]])
    counts = patch_label_counts(labels, (2, 2), 3)
    assert counts.shape == (1, 2, 2, 3)
    assert counts[0].tolist() == [[[3, 0, 1], [0, 3, 0]], [[0, 0, 4], [3, 0, 0]]]
    with pytest.raises(ValueError, match='not a multiple of the 3 x 3 patch grid'):
        patch_label_counts(labels, (3, 3), 3)


def test_median_frequency_weights_from_counts():
    counts = torch.tensor([[6, 2, 0], [2, 0, 0]])  # class 2 never occurs
    # freq: class 0 8 / (8 + 2), class 1 2 / 8; median of (0.8, 0.25) = 0.525
    weights = median_frequency_weights(counts)
    assert weights.tolist() == pytest.approx([0.525 / 0.8, 0.525 / 0.25, 0.0])


def test_dense_probe_reads_the_patches_it_is_given():
    # 8 maps of 4 x 4 pixels, a 2 x 2 grid; each patch one class (0-3), the feature of a
    # patch the one-hot of its class: a perfect probe
    g = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 4, (8, 2, 2), generator=g)
    classes[0] = torch.tensor([[0, 1], [2, 3]])  # every class occurs
    features = F.one_hot(classes, 4).float() + 0.01 * torch.randn(8, 2, 2, 4, generator=g)
    labels = classes.repeat_interleave(2, 1).repeat_interleave(2, 2)  # (8, 4, 4)
    result = dense_probe_miou(features, labels, features, labels, 4)
    assert result['miou'] == pytest.approx(100.0) and result['aacc'] == pytest.approx(100.0)
    # ignored pixels are not scored; wrong labels on one validation patch cost IoU by hand
    val = labels.clone()
    val[:, 0, 0] = 255
    val[0, 2:, 2:] = 0  # patch (1, 1) of map 0 is class 3, predicted 3, labelled 0 here
    result = dense_probe_miou(features, labels, features, val, 4)
    truth = val[val != 255]
    predicted = labels[val != 255]
    iou = [((truth == c) & (predicted == c)).sum().item()
           / ((truth == c) | (predicted == c)).sum().item() * 100 for c in range(4)]
    assert result['iou'] == pytest.approx(iou)
    assert result['miou'] == pytest.approx(sum(iou) / 4)
    # features that say nothing: the probe cannot beat predicting one class per pixel
    blind = dense_probe_miou(torch.zeros(8, 2, 2, 4), labels, torch.zeros(8, 2, 2, 4),
                             labels, 4)
    assert blind['miou'] < 30
