"""Metrics for analysing pretrained ViT encoders, computed from plain tensors.

- :func:`average_attention_distance`: per-head attention distance in pixels (LUT's AAD).
- :func:`linear_cka`, :func:`cka_matrix`: linear CKA between layer representations
  (Kornblith et al., 2019).
- :func:`head_diversity`: mean KL divergence between the attention maps of a layer's heads.
- :func:`feature_spectrum`: eigenvalues of the feature covariance (LUT's spectrum analysis).
- :func:`knn_predict`, :func:`knn_accuracy`: DINO's temperature-weighted k-NN classifier.
- :func:`linear_probe_accuracy`: a logistic-regression probe of frozen features.
- :func:`dense_probe_miou`: a per-patch linear probe of frozen features, scored by mIoU
  (with :func:`median_frequency_weights` and :func:`patch_label_counts`).

Everything runs on the inputs' device; sums over many values are taken in float64.
"""
from typing import Callable, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _shape(x: Tensor) -> Tuple[int, ...]:
    return tuple(x.shape)


def _check_attn(attn: Tensor, num_prefix: int) -> None:
    """``attn`` must be (B, H, T, T) with 0 <= num_prefix < T."""
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f'attn: expected attention probabilities of shape (B, H, T, T), '
                         f'got {_shape(attn)}')
    if not 0 <= num_prefix < attn.shape[-1]:
        raise ValueError(f'num_prefix: expected 0 <= num_prefix < T = {attn.shape[-1]} '
                         f'(at least one patch token), got {num_prefix}')


def _check_features(x: Tensor, name: str, min_samples: int = 1) -> None:
    """``x`` must be (n, d) with n >= min_samples."""
    if x.dim() != 2:
        raise ValueError(f'{name}: expected features of shape (n, d), got {_shape(x)}')
    if x.shape[0] < min_samples:
        raise ValueError(f'{name}: expected at least {min_samples} samples (rows), '
                         f'got {x.shape[0]}')


def _centred(x: Tensor) -> Tensor:
    """(n, d) -> (n, d) float64 with zero-mean columns."""
    x = x.double()
    return x - x.mean(dim=0)


# --------------------------------------------------------------------------------------
# Average attention distance
# --------------------------------------------------------------------------------------


def _patch_distances(grid: Tuple[int, int], patch_size: int,
                     device: torch.device) -> Tensor:
    """(N, N) float64 pixel distances between the patches of an (h, w) grid, row-major."""
    height, width = grid
    rows = torch.arange(height, dtype=torch.float64, device=device).repeat_interleave(width)
    cols = torch.arange(width, dtype=torch.float64, device=device).repeat(height)
    # Euclidean distance between grid positions, scaled from patches to pixels
    d_row = rows[:, None] - rows[None, :]
    d_col = cols[:, None] - cols[None, :]
    return patch_size * torch.sqrt(d_row**2 + d_col**2)


def average_attention_distance(attn: Tensor, grid: Tuple[int, int], patch_size: int,
                               num_prefix: int = 1) -> Tensor:
    """Average attention distance of each head, in pixels (LUT's AAD analysis).

    For a patch query q, the mean distance it attends over is
    ``sum_k a_qk d_qk / sum_k a_qk`` over the patch keys k, with ``d_qk`` the pixel distance
    (``patch_size`` x Euclidean distance of the grid positions). The prefix (cls) tokens
    are left out as queries and as keys; dividing by ``sum_k a_qk`` renormalises each
    query's patch-key weights to sum to 1, so attention paid to the cls token neither
    shortens nor lengthens the distance. This renormalisation is our choice. The result is
    the mean over all patch queries and all images, per head.

    Queries that put no weight at all on patch keys have no distance and are left out of
    the mean (a head where that holds for every query gets NaN).

    Args:
        attn: (B, H, T, T) attention probabilities (rows sum to 1), T = num_prefix + h * w,
            prefix tokens first, then the patches in row-major order of the grid.
        grid: (h, w) patch grid.
        patch_size: patch side in pixels.
        num_prefix: number of prefix tokens (1 for a cls token, 0 for none).

    Returns:
        (H,) float64, pixels.
    """
    _check_attn(attn, num_prefix)
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f'grid: expected (h, w) with h, w >= 1, got {grid}')
    if patch_size <= 0:
        raise ValueError(f'patch_size: expected a positive patch side in pixels, '
                         f'got {patch_size}')
    num_patches = grid[0] * grid[1]
    if attn.shape[-1] != num_prefix + num_patches:
        raise ValueError(f'attn: expected T = num_prefix + h * w = {num_prefix} + '
                         f'{grid[0]} * {grid[1]} = {num_prefix + num_patches} tokens, '
                         f'got shape {_shape(attn)}')
    patch_attn = attn[:, :, num_prefix:, num_prefix:].double()  # (B, H, N, N)
    dist = _patch_distances(grid, patch_size, attn.device)  # (N, N)
    # weight of each query on the patch keys (1 - its weight on the prefix tokens)
    mass = patch_attn.sum(dim=-1)  # (B, H, N)
    # attention-weighted distance sum_k a_qk d_qk, before renormalisation
    weighted = torch.einsum('bhqk,qk->bhq', patch_attn, dist)  # (B, H, N)
    valid = mass > 0
    # renormalised mean distance of each query: sum_k a_qk d_qk / sum_k a_qk
    per_query = torch.where(valid, weighted / mass.clamp_min(torch.finfo(mass.dtype).tiny),
                            torch.zeros_like(weighted))
    # mean over images and patch queries, per head
    return per_query.sum(dim=(0, 2)) / valid.sum(dim=(0, 2))


# --------------------------------------------------------------------------------------
# Linear CKA
# --------------------------------------------------------------------------------------


def _gram_norm(xc: Tensor) -> Tensor:
    """||X^T X||_F of centred (n, d) features, via the (d, d) Gram matrix."""
    return torch.linalg.matrix_norm(xc.T @ xc)


def _cross_term(xc: Tensor, yc: Tensor) -> Tensor:
    """||Y^T X||_F^2 of centred features, via the (d2, d1) cross-covariance."""
    return (yc.T @ xc).pow(2).sum()


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA (Kornblith et al., 2019) between two representations of the same samples.

    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` with the columns of X and Y centred;
    computed with the (d, d) Gram forms, so n can be large. In [0, 1]; 1 for X = Y; invariant
    to orthogonal transforms and isotropic scaling of either side. NaN if one side is
    constant (zero after centring).

    Args:
        x: (n, d1).
        y: (n, d2), the same n samples in the same order.

    Returns:
        float64 scalar tensor.
    """
    _check_features(x, 'x', min_samples=2)
    _check_features(y, 'y', min_samples=2)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f'y: expected the same number of samples as x ({x.shape[0]}), '
                         f'got shape {_shape(y)}')
    xc, yc = _centred(x), _centred(y)
    # CKA = HSIC(X, Y) / sqrt(HSIC(X, X) HSIC(Y, Y)), the linear-kernel HSICs in Gram form
    return _cross_term(xc, yc) / (_gram_norm(xc) * _gram_norm(yc))


def cka_matrix(features: Sequence[Tensor]) -> Tensor:
    """Linear CKA between every pair of L representations of the same n samples.

    Each ``||X_l^T X_l||_F`` is computed once; the cross terms once per unordered pair.
    Centred float64 copies are made on the fly (two at a time), so the memory is that of
    two layers, not L.

    Args:
        features: L tensors of shape (n, d_l) (widths may differ).

    Returns:
        (L, L) float64, symmetric, ones on the diagonal.
    """
    if len(features) == 0:
        raise ValueError('features: expected at least one (n, d) tensor, got none')
    for i, feat in enumerate(features):
        _check_features(feat, f'features[{i}]', min_samples=2)
        if feat.shape[0] != features[0].shape[0]:
            raise ValueError(f'features[{i}]: expected the same number of samples as '
                             f'features[0] ({features[0].shape[0]}), got {_shape(feat)}')
    num = len(features)
    norms = [_gram_norm(_centred(feat)) for feat in features]  # ||X_l^T X_l||_F
    cka = torch.eye(num, dtype=torch.float64, device=features[0].device)
    for i in range(num):
        xc = _centred(features[i])
        for j in range(i + 1, num):
            # CKA_ij = ||X_j^T X_i||_F^2 / (||X_i^T X_i||_F ||X_j^T X_j||_F)
            value = _cross_term(xc, _centred(features[j])) / (norms[i] * norms[j])
            cka[i, j] = cka[j, i] = value
    return cka


# --------------------------------------------------------------------------------------
# Attention-head diversity
# --------------------------------------------------------------------------------------


def head_diversity(attn: Tensor, num_prefix: int = 1, eps: float = 1e-8) -> Tensor:
    """Attention-head diversity of one layer: mean KL divergence between its heads.

    The mean, over ordered head pairs (i, j) with i != j, patch queries q and images, of
    ``KL(A_i[q] || A_j[q])`` in nats, with ``A_i[q]`` head i's attention distribution of
    query q over all T keys (prefix tokens included). Only patch tokens are queries. 0 when
    all heads are identical.

    Follows "Revealing the Dark Secrets of Masked Image Modeling" (Xie et al., 2022), which
    measures head diversity by the KL divergence between heads. DeepMIM's exact definition
    is not published; this one is ours.

    Computed as ``KL(p || q) = sum p log p - sum p log q``, the second sum for all head pairs
    at once by one einsum over heads, so no (H, H, Q, T) tensor is formed. Probabilities
    are clamped to ``eps`` inside the logarithms: a zero in ``q`` where ``p > 0`` gives a
    large finite KL (about ``p * -log(eps)``) instead of inf.

    Args:
        attn: (B, H, T, T) attention probabilities (rows sum to 1), prefix tokens first.
        num_prefix: number of prefix tokens (1 for a cls token, 0 for none).
        eps: lower clamp of the probabilities inside the logarithms.

    Returns:
        float64 scalar tensor, nats.
    """
    _check_attn(attn, num_prefix)
    num_heads = attn.shape[1]
    if num_heads < 2:
        raise ValueError(f'attn: head diversity needs at least 2 heads (dim 1), '
                         f'got shape {_shape(attn)}')
    probs = attn[:, :, num_prefix:, :].double()  # (B, H, Q, T): patch queries, all keys
    log_probs = probs.clamp_min(eps).log()
    # sum_k p_i log p_i per head, summed over images and queries: (H,)
    self_term = (probs * log_probs).sum(dim=(0, 2, 3))
    # sum_k p_i log p_j for every head pair, summed over images and queries: (H, H)
    cross_term = torch.einsum('biqk,bjqk->ij', probs, log_probs)
    # KL(A_i || A_j) summed over images and queries: (H, H), zero diagonal
    pair_kl = self_term[:, None] - cross_term
    off_diagonal = ~torch.eye(num_heads, dtype=torch.bool, device=attn.device)
    num_queries = probs.shape[0] * probs.shape[2]
    # mean over ordered pairs i != j, then over images and queries
    return pair_kl[off_diagonal].mean() / num_queries


# --------------------------------------------------------------------------------------
# Feature spectrum
# --------------------------------------------------------------------------------------


def feature_spectrum(x: Tensor) -> Tensor:
    """Spectrum of the feature covariance (LUT's singular-value spectrum analysis).

    The covariance of the centred features, ``C = X_c^T X_c / n`` (1/n normalisation, as in
    Jing et al., 2022), is symmetric positive semi-definite, so its singular values are its
    eigenvalues; round-off below 0 is clamped to 0.

    Args:
        x: (n, d) features.

    Returns:
        (d,) float64, sorted descending.
    """
    _check_features(x, 'x')
    xc = _centred(x)
    # covariance of the centred features: (d, d)
    cov = xc.T @ xc / x.shape[0]
    # eigvalsh returns the eigenvalues in ascending order
    return torch.linalg.eigvalsh(cov).flip(0).clamp_min(0)


# --------------------------------------------------------------------------------------
# Weighted k-NN
# --------------------------------------------------------------------------------------


def _check_labels(labels: Tensor, name: str, num: int, num_classes: int) -> None:
    """``labels`` must be (num,) integers in [0, num_classes)."""
    if num_classes < 1:
        raise ValueError(f'num_classes: expected >= 1, got {num_classes}')
    if labels.dim() != 1 or labels.shape[0] != num:
        raise ValueError(f'{name}: expected shape ({num},), got {_shape(labels)}')
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f'{name}: expected integer class indices, got {labels.dtype}')
    if num > 0 and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'{name}: expected class indices in [0, {num_classes}), got '
                         f'[{labels.min().item()}, {labels.max().item()}]')


def knn_predict(train_features: Tensor, train_labels: Tensor, test_features: Tensor,
                num_classes: int, k: int = 20, temperature: float = 0.07,
                chunk: int = 1024) -> Tensor:
    """DINO's weighted k-NN classifier.

    Features are L2-normalised; each test sample takes the k training samples of highest
    cosine similarity s (k clipped to the training set size), each votes for its label with
    weight ``exp(s / temperature)``, and the class with the largest summed vote wins (the
    lowest class index on a tie). Test features are processed ``chunk`` rows at a time.

    Args:
        train_features: (N, d).
        train_labels: (N,) integer class indices in [0, num_classes).
        test_features: (M, d).
        num_classes: number of classes C.
        k: number of neighbours.
        temperature: softness of the vote weights (small: the nearest neighbours dominate).
        chunk: test rows per similarity matrix (the temporary is chunk x N).

    Returns:
        (M,) long predicted classes.
    """
    _check_features(train_features, 'train_features')
    _check_features(test_features, 'test_features', min_samples=0)
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(f'test_features: expected the feature width of train_features '
                         f'({train_features.shape[1]}), got shape {_shape(test_features)}')
    _check_labels(train_labels, 'train_labels', train_features.shape[0], num_classes)
    if k < 1:
        raise ValueError(f'k: expected >= 1 neighbours, got {k}')
    if temperature <= 0:
        raise ValueError(f'temperature: expected > 0, got {temperature}')
    if chunk < 1:
        raise ValueError(f'chunk: expected >= 1 rows, got {chunk}')

    # at least float32: half precision is upcast, float64 kept
    dtype = torch.promote_types(torch.promote_types(train_features.dtype, torch.float32),
                                test_features.dtype)
    train = F.normalize(train_features.to(dtype), dim=1)  # (N, d), unit rows
    labels = train_labels.long()
    k = min(k, train.shape[0])
    preds = []
    for start in range(0, test_features.shape[0], chunk):
        test = F.normalize(test_features[start:start + chunk].to(dtype), dim=1)  # (m, d)
        # cosine similarity to every training sample: (m, N)
        sims = test @ train.T
        top_sims, top_idx = sims.topk(k, dim=1)  # (m, k)
        # each neighbour votes for its label with weight exp(s / temperature)
        votes = torch.zeros(test.shape[0], num_classes, dtype=sims.dtype, device=sims.device)
        votes.scatter_add_(1, labels[top_idx], (top_sims / temperature).exp())
        preds.append(votes.argmax(dim=1))
    if not preds:
        return torch.zeros(0, dtype=torch.long, device=test_features.device)
    return torch.cat(preds)


def knn_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor,
                 test_labels: Tensor, num_classes: int, k: int = 20,
                 temperature: float = 0.07, chunk: int = 1024) -> float:
    """Top-1 accuracy (percent) of :func:`knn_predict` on labelled test features.

    Args:
        test_labels: (M,) integer class indices of ``test_features``; the other arguments
            as in :func:`knn_predict`.

    Returns:
        Python float in [0, 100].
    """
    _check_features(test_features, 'test_features')
    _check_labels(test_labels, 'test_labels', test_features.shape[0], num_classes)
    preds = knn_predict(train_features, train_labels, test_features, num_classes, k=k,
                        temperature=temperature, chunk=chunk)
    # fraction of correct predictions, in percent
    correct = (preds == test_labels.to(preds.device).long()).double().mean()
    return 100.0 * correct.item()


# --------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------


def _fit_softmax(x: Tensor, data_loss: Callable[[Tensor], Tensor], num_classes: int,
                 weight_decay: float, max_iter: int) -> Callable[[Tensor], Tensor]:
    """Fit ``softmax(x' W + b)`` to ``x`` (N, d), standardised per dimension (x'), by
    L-BFGS from zero, minimising ``data_loss(logits) + weight_decay / 2 * ||W||^2`` in
    ``x``'s dtype; returns features (..., d) -> logits (..., C)."""
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    x = (x - mean) / std
    weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, device=x.device,
                         requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, device=x.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = data_loss(x @ weight + bias) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)

    @torch.no_grad()
    def predict(features: Tensor) -> Tensor:
        return ((features.to(x) - mean) / std) @ weight + bias

    return predict


def linear_probe_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor,
                          test_labels: Tensor, num_classes: int, weight_decay: float = 1e-4,
                          max_iter: int = 200) -> float:
    """Top-1 accuracy (percent) of a linear classifier fitted to frozen features.

    Features are standardised with the training set's per-dimension mean and standard
    deviation; a multinomial logistic regression ``softmax(x W + b)`` is fitted to the whole
    training set by L-BFGS from zero, minimising ``CE + weight_decay / 2 * ||W||^2``, in
    float64. Deterministic: the same features give the same accuracy.

    Args:
        train_features: (N, d); train_labels: (N,) class indices in [0, num_classes).
        test_features: (M, d); test_labels: (M,).

    Returns:
        Python float in [0, 100].
    """
    _check_features(train_features, 'train_features', min_samples=2)
    _check_features(test_features, 'test_features')
    _check_labels(train_labels, 'train_labels', train_features.shape[0], num_classes)
    _check_labels(test_labels, 'test_labels', test_features.shape[0], num_classes)
    y = train_labels.to(train_features.device).long()
    predict = _fit_softmax(train_features.double(), lambda logits: F.cross_entropy(logits, y),
                           num_classes, weight_decay, max_iter)
    predicted = predict(test_features).argmax(1)
    correct = (predicted == test_labels.to(predicted.device).long()).double().mean()
    return 100.0 * correct.item()


# --------------------------------------------------------------------------------------
# Dense (per-patch) linear probe
# --------------------------------------------------------------------------------------


def median_frequency_weights(counts: Tensor) -> Tensor:
    """SegNet's median-frequency class weights from per-image pixel counts.

    With ``counts[i, c]`` the pixels of class c in image i::

        freq_c = sum_i counts[i, c] / sum_{i: counts[i, c] > 0} sum_k counts[i, k]
        w_c = median_c(freq_c) / freq_c

    the median over the classes that occur; a class that never occurs gets 0.

    Args:
        counts: (n, C) non-negative pixel counts.

    Returns:
        (C,) float64 weights.
    """
    counts = counts.double()
    pixels = counts.sum(0)  # (C,)
    present = counts > 0
    freq = pixels / (present * counts.sum(1, keepdim=True)).sum(0).clamp_min(1)
    median = freq[pixels > 0].quantile(0.5)  # numpy's median (the mean of the middle two)
    return torch.where(pixels > 0, median / freq.clamp_min(1e-30), torch.zeros_like(freq))


def patch_label_counts(labels: Tensor, grid: Tuple[int, int], num_classes: int,
                       ignore_index: int = 255) -> Tensor:
    """How many pixels of each class fall in each patch of a ``grid``.

    Args:
        labels: (n, H, W) class indices in [0, num_classes), or ``ignore_index``; H and W
            multiples of the grid.
        grid: (h, w) patches.

    Returns:
        (n, h, w, C) float counts (ignored pixels not counted).
    """
    n, height, width = labels.shape
    h, w = grid
    if height % h or width % w:
        raise ValueError(f'labels: {height} x {width} is not a multiple of the {h} x {w} '
                         f'patch grid')
    rows = torch.arange(height, device=labels.device) // (height // h)  # (H,)
    cols = torch.arange(width, device=labels.device) // (width // w)  # (W,)
    images = torch.arange(n, device=labels.device)
    patch = (images[:, None, None] * h + rows[None, :, None]) * w + cols[None, None, :]
    valid = labels != ignore_index
    index = patch[valid] * num_classes + labels[valid].long()
    counts = torch.bincount(index, minlength=n * h * w * num_classes)
    return counts.view(n, h, w, num_classes).float()


def dense_probe_miou(train_features: Tensor, train_labels: Tensor, val_features: Tensor,
                     val_labels: Tensor, num_classes: int, weight_decay: float = 1e-4,
                     max_iter: int = 100, ignore_index: int = 255) -> dict:
    """mIoU of a linear classifier of frozen patch features (a dense linear probe).

    Features are standardised with the training patches' per-dimension mean and standard
    deviation; one ``softmax(x W + b)`` for all patches is fitted by L-BFGS from zero (in
    float32: a million patches' worth of float64 doubles the time for the same mIoU) to
    the class-weighted cross-entropy of every labelled pixel, each pixel taking
    its patch's prediction, with SegNet's median-frequency weights ``w`` of the training
    labels (:func:`median_frequency_weights`)::

        loss = sum_p sum_c w_c n_pc (-log p_c(x_p)) / sum_p sum_c w_c n_pc
               + weight_decay / 2 * ||W||^2

    with ``n_pc`` the pixels of class c in patch p. The validation logits are upsampled
    bilinearly to the labels' size; per-class IoU over all validation pixels that are not
    ignored, mIoU their mean over the classes that occur in the labels or predictions.
    Deterministic.

    Args:
        train_features: (n, h, w, d) patch features; train_labels: (n, H, W).
        val_features: (m, h, w, d); val_labels: (m, H, W).
        num_classes: C; labels are in [0, C) or ``ignore_index``.

    Returns:
        dict: ``miou`` and ``aacc`` (percent), ``iou`` (C per-class percentages, None for
        a class absent from both the labels and the predictions), ``class_weight``.
    """
    for name, x in (('train_features', train_features), ('val_features', val_features)):
        if x.dim() != 4:
            raise ValueError(f'{name}: expected (n, h, w, d), got {_shape(x)}')
    grid = tuple(train_features.shape[1:3])
    counts = patch_label_counts(train_labels, grid, num_classes, ignore_index)
    weights = median_frequency_weights(counts.sum((1, 2)))  # from (n, C) image counts
    target = (counts * weights.float()).flatten(0, 2)  # (N, C): weighted pixel counts per patch
    keep = target.sum(1) > 0
    target = target[keep]
    total = target.sum()
    predict = _fit_softmax(train_features.flatten(0, 2)[keep].float(),
                           lambda logits: -(target * F.log_softmax(logits, 1)).sum() / total,
                           num_classes, weight_decay, max_iter)
    with torch.no_grad():
        logits = predict(val_features).permute(0, 3, 1, 2)  # (m, C, h, w)
        logits = F.interpolate(logits, size=tuple(val_labels.shape[1:]), mode='bilinear',
                               align_corners=False)
        predicted = logits.argmax(1)  # (m, H, W)
    valid = val_labels != ignore_index
    truth, predicted = val_labels[valid].long(), predicted[valid]
    confusion = torch.bincount(truth * num_classes + predicted,
                               minlength=num_classes**2).view(num_classes, num_classes)
    confusion = confusion.double()
    intersection = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - intersection
    iou = torch.where(union > 0, intersection / union.clamp_min(1), float('nan')) * 100
    occurring = union > 0
    return dict(miou=iou[occurring].mean().item(),
                aacc=100.0 * (intersection.sum() / confusion.sum().clamp_min(1)).item(),
                iou=[value if o else None for o, value in zip(occurring.tolist(), iou.tolist())],
                class_weight=weights.tolist())
