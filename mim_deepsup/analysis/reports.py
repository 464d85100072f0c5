"""The analyses of one encoder over a set of images, and their JSON / CSV / PNG outputs.

One pass over the images computes whichever analyses are asked for:
- ``aad``: average attention distance per block and head, in pixels (LUT);
- ``diversity``: attention-head diversity per block (DeepMIM; our definition, see
  :func:`metrics.head_diversity`);
- ``cka``: linear CKA between every pair of blocks' patch tokens (DeepMIM);
- ``spectrum``: singular values of each block's patch-token covariance (LUT).
"""
import csv
import io
import json
import math
import os.path as osp
from typing import Dict, Iterable, List, Sequence

import torch

from ..fileio import atomic_write
from .encoder import has_cls_token, iter_encoded
from .metrics import (
    average_attention_distance,
    cka_matrix,
    feature_spectrum,
    head_diversity,
    knn_predict,
)

ANALYSES = ('aad', 'diversity', 'cka', 'spectrum')


def analyse(encoder: torch.nn.Module, facts: dict, images: torch.Tensor,
            which: Iterable[str] = ANALYSES, batch_size: int = 32,
            max_tokens: int = 16384) -> Dict[str, list]:
    """Run ``encoder`` over ``images`` (n, 3, H, W) once and compute ``which`` analyses.

    CKA and spectra use at most ``max_tokens`` patch tokens per block (the same evenly
    spaced tokens in every block). Returns plain lists (JSON-ready): ``aad`` L x H pixels,
    ``diversity`` L nats, ``cka`` L x L, ``spectrum`` L x C.
    """
    which = set(which)
    unknown = which - set(ANALYSES)
    if unknown:
        raise ValueError(f'which: unknown analyses {sorted(unknown)}; known: {ANALYSES}')
    attention = bool(which & {'aad', 'diversity'})
    aad_sum, diversity_sum, tokens = None, None, []
    # the same evenly spaced patch tokens of every block, picked batch by batch so that
    # no more than these are ever held: flat index i = image * N + patch
    num_patches = facts['grid'][0] * facts['grid'][1]
    total = len(images) * num_patches
    keep = torch.linspace(0, total - 1, min(max_tokens, total)).round().long().unique()
    start = 0
    for batch in iter_encoded(encoder, images, attention=attention, batch_size=batch_size):
        b = len(batch['final'])
        if 'aad' in which:  # L x (H,), averages over this batch, weighted by its size
            values = torch.stack([average_attention_distance(
                a, facts['grid'], facts['patch_size']) for a in batch['attention']]) * b
            aad_sum = values if aad_sum is None else aad_sum + values
        if 'diversity' in which:
            values = torch.stack([head_diversity(a) for a in batch['attention']]) * b
            diversity_sum = values if diversity_sum is None else diversity_sum + values
        if which & {'cka', 'spectrum'}:  # L x (kept, C) patch tokens, cls excluded
            end = start + b * num_patches
            here = keep[(keep >= start) & (keep < end)] - start
            tokens.append([x.reshape(-1, x.shape[-1])[here.to(x.device)].cpu()
                           for x in batch['blocks']])
            start = end
    n = len(images)
    report = dict(num_images=n)
    if 'aad' in which:
        report['aad'] = (aad_sum / n).cpu().tolist()
    if 'diversity' in which:
        report['diversity'] = (diversity_sum / n).cpu().tolist()
    if tokens:
        features = [torch.cat(layer) for layer in zip(*tokens)]
        report['num_tokens'] = len(features[0])
        if 'cka' in which:
            report['cka'] = cka_matrix(features).cpu().tolist()
        if 'spectrum' in which:
            report['spectrum'] = [feature_spectrum(f).cpu().tolist() for f in features]
    return report


def _no_nan(value):
    """JSON has no NaN: a degenerate value (e.g. CKA of a constant block) becomes null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str, data: dict) -> None:
    write_text(path, json.dumps(_no_nan(data), indent=1, allow_nan=False))


def write_csv(path: str, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def save_figure(path: str, figure) -> None:
    import matplotlib.pyplot as plt
    atomic_write(path, lambda f: figure.savefig(f, format='png', dpi=120,
                                                 bbox_inches='tight'))
    plt.close(figure)


def figure(width: float = 6.0, height: float = 4.0):
    import sys

    import matplotlib
    if 'matplotlib.pyplot' not in sys.modules:  # no screen needed; a user's choice stays
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(width, height))


def _plot_aad(fig, ax, aad):
    for i, heads in enumerate(aad):
        ax.scatter([i + 1] * len(heads), heads, s=12, color='tab:blue')
    ax.plot(range(1, len(aad) + 1), [sum(h) / len(h) for h in aad], color='tab:orange',
            label='mean over heads')
    ax.set(xlabel='block', ylabel='average attention distance (px)')
    ax.legend()


def _plot_diversity(fig, ax, values):
    ax.plot(range(1, len(values) + 1), values, marker='o')
    ax.set(xlabel='block', ylabel='head diversity (mean pairwise KL, nats)')


def _plot_cka(fig, ax, cka):
    image = ax.imshow(cka, vmin=0, vmax=1, origin='lower', cmap='viridis',
                      extent=(0.5, len(cka) + 0.5, 0.5, len(cka) + 0.5))
    fig.colorbar(image, ax=ax, label='linear CKA')
    ax.set(xlabel='block', ylabel='block')


def _plot_spectrum(fig, ax, spectra):
    import matplotlib
    colours = matplotlib.colormaps['viridis']
    for i, s in enumerate(spectra):
        top = max(s[0], 1e-30)
        ax.plot([max(v / top, 1e-12) for v in s], color=colours(i / max(1, len(spectra) - 1)),
                label=f'block {i + 1}' if i in (0, len(spectra) - 1) else None)
    ax.set_yscale('log')
    ax.set(xlabel='singular value index', ylabel='normalised singular value')
    ax.legend()


# analysis -> (JSON key, CSV header, CSV rows of the values, plot, figure size)
WRITERS = {
    'aad': ('aad_pixels', ['block', 'head', 'aad_pixels'],
            lambda v: [(i + 1, h, x) for i, heads in enumerate(v) for h, x in enumerate(heads)],
            _plot_aad, (6, 4)),
    'diversity': ('diversity_nats', ['block', 'diversity_nats'],
                  lambda v: [(i + 1, x) for i, x in enumerate(v)], _plot_diversity, (6, 4)),
    'cka': ('cka', None, lambda v: [[i + 1] + row for i, row in enumerate(v)], _plot_cka,
            (5, 4.5)),
    'spectrum': ('singular_values', ['block', 'index', 'singular_value'],
                 lambda v: [(i + 1, j, x) for i, s in enumerate(v) for j, x in enumerate(s)],
                 _plot_spectrum, (6, 4)),
}


def write_report(report: dict, out_dir: str, title: str) -> List[str]:
    """Write each analysis of ``report`` as ``<name>.json``, ``<name>.csv`` and
    ``<name>.png`` in ``out_dir``; returns the PNG paths."""
    meta = {k: report[k] for k in ('checkpoint', 'source', 'num_images', 'num_tokens', 'facts')
            if k in report}
    written = []
    for name, (key, header, rows, plot, size) in WRITERS.items():
        if name not in report:
            continue
        values = report[name]
        write_json(osp.join(out_dir, f'{name}.json'), dict(meta, **{key: values}))
        header = header or ['block'] + [str(i + 1) for i in range(len(values))]
        write_csv(osp.join(out_dir, f'{name}.csv'), header, rows(values))
        fig, ax = figure(*size)
        plot(fig, ax, values)
        ax.set_title(title)
        written.append(osp.join(out_dir, f'{name}.png'))
        save_figure(written[-1], fig)
    return written


@torch.no_grad()
def pooled_features(encoder: torch.nn.Module, images: torch.Tensor, pool: str = 'mean',
                    batch_size: int = 64) -> torch.Tensor:
    """(n, C) frozen features: the mean of the final patch tokens (LUT's pooling, and
    MAE fine-tuning's) or the cls token."""
    if pool not in ('mean', 'cls'):
        raise ValueError(f"pool: expected 'mean' or 'cls', got {pool!r}")
    if pool == 'cls' and not has_cls_token(encoder):
        raise ValueError(f"pool='cls': {type(encoder).__name__} has no cls token; "
                         f"use pool='mean'")
    features = []
    for batch in iter_encoded(encoder, images, attention=False, batch_size=batch_size):
        features.append(batch['final'].mean(1) if pool == 'mean' else batch['cls'])
    return torch.cat(features)


@torch.no_grad()
def block_features(encoder: torch.nn.Module, images: torch.Tensor,
                   batch_size: int = 256) -> Dict[str, object]:
    """Frozen features of every block in one pass: ``blocks`` L (n, C), the mean of each
    block's raw patch tokens (cls excluded); ``final`` (n, C), the mean of the final-normed
    patch tokens (:func:`pooled_features` with ``pool='mean'``)."""
    blocks, final = [], []
    for batch in iter_encoded(encoder, images, attention=False, batch_size=batch_size):
        blocks.append([x.mean(1) for x in batch['blocks']])
        final.append(batch['final'].mean(1))
    return dict(blocks=[torch.cat(layer) for layer in zip(*blocks)], final=torch.cat(final))


def patch_features(encoder: torch.nn.Module, images: torch.Tensor, tile: int,
                   batch_size: int = 256) -> torch.Tensor:
    """The final-normed patch tokens of ``images`` (n, 3, H, W), encoded as tiles of
    ``tile`` x ``tile`` (the encoder's input size; H and W multiples of it) and stitched
    back into one grid: (n, H / tile * g, W / tile * g, C) with g x g tokens a tile."""
    n, _, height, width = images.shape
    if height % tile or width % tile:
        raise ValueError(f'images: {height} x {width} is not a multiple of the {tile} px '
                         f'tile')
    kh, kw = height // tile, width // tile
    tiles = images.reshape(n, 3, kh, tile, kw, tile).permute(0, 2, 4, 1, 3, 5)
    tokens = torch.cat([batch['final'] for batch in iter_encoded(
        encoder, tiles.reshape(n * kh * kw, 3, tile, tile), attention=False,
        batch_size=batch_size)])  # (n kh kw, g g, C)
    g = math.isqrt(tokens.shape[1])
    grid = tokens.reshape(n, kh, kw, g, g, -1).permute(0, 1, 3, 2, 4, 5)
    return grid.reshape(n, kh * g, kw * g, -1)


def knn_report(encoder, train: tuple, val: tuple, classes: Sequence[str], k: int = 20,
               temperature: float = 0.07, pool: str = 'mean') -> dict:
    """k-NN top-1 accuracy of frozen features: ``train`` and ``val`` are (images, labels);
    DINO's weighted vote (cosine, ``k``, ``temperature``)."""
    train_features = pooled_features(encoder, train[0], pool)
    val_features = pooled_features(encoder, val[0], pool)
    predicted = knn_predict(train_features, train[1].to(train_features.device), val_features,
                            len(classes), k=k,
                            temperature=temperature)
    predicted, truth = predicted.cpu(), val[1].cpu()
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    confusion.index_put_((truth, predicted), torch.ones_like(predicted), accumulate=True)
    return dict(accuracy=100.0 * (predicted == truth).double().mean().item(),
                classes=list(classes), confusion=confusion.tolist(), k=k,
                temperature=temperature, pool=pool, num_train=len(train[1]),
                num_val=len(val[1]))


def write_knn_report(report: dict, out_dir: str, title: str) -> List[str]:
    """``knn.json``, ``knn.csv`` (per-class accuracy) and ``knn.png`` (confusion)."""
    classes, confusion = report['classes'], report['confusion']
    write_json(osp.join(out_dir, 'knn.json'), report)
    write_csv(osp.join(out_dir, 'knn.csv'), ['class', 'num_val', 'accuracy'],
              [(name, sum(row), 100.0 * row[i] / max(1, sum(row)))
               for i, (name, row) in enumerate(zip(classes, confusion))])
    fig, ax = figure(4.5, 4)
    ax.imshow(confusion, cmap='Blues')
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha='center', va='center', fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha='right')
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel='predicted', ylabel='true',
           title=f'{title}\nk-NN top-1 {report["accuracy"]:.2f} %')
    path = osp.join(out_dir, 'knn.png')
    save_figure(path, fig)
    return [path]
