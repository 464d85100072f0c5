"""The data side of a training step: a config's training pipeline timed per image, on the
CPU, in one process, as one data-loader worker runs it.

Images are generated JPEGs of ImageNet's typical size (500 x 375, quality 90, smooth
colour fields with texture, so that they compress as photographs do rather than as noise).
Reported per config: CPU milliseconds per image for the whole pipeline and for each
transform (nested ones, such as MultiView's, included, named by their path in the
pipeline), and images per second per core. CPU time is the process's (``process_time``),
so a transform's own threads count too.
"""
import contextlib
import os
import os.path as osp
import statistics
import time
from collections import defaultdict
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms import Compose as TransformCompose
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from PIL import Image

from .steps import load_config

IMAGE_SIZE = (500, 375)  # (width, height): ImageNet's most common size
COMPOSES = (Compose, TransformCompose)  # a pipeline inside a wrapper: no name of its own


def make_jpegs(folder: str, count: int = 32, size=IMAGE_SIZE, seed: int = 0) -> List[str]:
    """``count`` JPEGs in ``folder`` (made once; existing files are reused)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    paths = []
    for i in range(count):
        path = osp.join(folder, f'image_{i:04d}.jpg')
        paths.append(path)
        if osp.exists(path):
            continue
        # a few smooth colour fields (low-resolution noise upsampled) plus fine texture
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
        texture = rng.normal(0, 12, (height, width, 1))
        pixels = np.clip(field + texture, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    return paths


def _children(transform) -> List[tuple]:
    """(name, transform) of the transforms a wrapper holds (MultiView, RandomApply, ...)."""
    found = []
    for attr, value in vars(transform).items():
        items = value.transforms if isinstance(value, COMPOSES) else value
        items = items if isinstance(items, (list, tuple)) else [items]
        for i, item in enumerate(items):
            if isinstance(item, COMPOSES):
                found += [(f'{attr}[{i}][{j}]', t) for j, t in enumerate(item.transforms)
                          if t is not transform]
            elif item is not transform and (isinstance(item, BaseTransform)
                                            or callable(getattr(item, 'transform', None))):
                found.append((f'{attr}[{i}]', item))
    return found


def _instrument(transform, name: str, times: Dict[str, List[float]], seen: set) -> None:
    """Time every call of ``transform`` (and of the transforms it holds) into ``times``,
    each transform object once (a wrapper may hold it under two attributes)."""
    if id(transform) in seen:
        return
    seen.add(id(transform))
    for child_name, child in _children(transform):
        _instrument(child, f'{name}.{child_name} {type(child).__name__}', times, seen)
    if isinstance(transform, BaseTransform) and not isinstance(transform, COMPOSES):
        inner = transform.transform

        def timed(results, inner=inner):
            start = time.process_time()
            out = inner(results)
            times[name].append(time.process_time() - start)
            return out

        transform.transform = timed


@contextlib.contextmanager
def worker_threads():
    """The threads a training data-loader worker has: one for torch (PyTorch's
    ``DataLoader`` sets it in each worker) and none of OpenCV's own (mmengine's
    ``env_cfg.mp_cfg.opencv_num_threads=0``). With the main process's threads, torch's and
    OpenCV's thread pools add their spinning to the process's CPU time."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


def _instrumented_pipeline(config: str):
    """``config``'s training pipeline with every transform timed: (pipeline, times)."""
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    times: Dict[str, List[float]] = defaultdict(list)
    seen: set = set()
    for i, transform in enumerate(pipeline.transforms):
        _instrument(transform, f'[{i}] {type(transform).__name__}', times, seen)
    return pipeline, times


def time_pipelines(configs: Dict[str, str], images: Sequence[str],
                   rounds: int = 3) -> Dict[str, dict]:
    """CPU ms per image of each config's training pipeline over ``images``, ``rounds``
    times (the first round is a warm-up), by label: ``dict(total=ms, transforms={name:
    ms}, per_core=n)``.

    The rounds are interleaved (round r runs every pipeline before round r + 1 starts),
    so that a drift of the machine's speed (a cold process, other load) falls on every
    config alike; timed one after the other, the first config measured 25 % slower than
    the same pipeline timed later. They run with a data-loader worker's threads
    (:func:`worker_threads`). A transform's time is the sum of its calls per image
    (LUT's two crops are one line each, under their view), so wrappers include what they
    hold.
    """
    if rounds < 2:
        raise ValueError(f'rounds: expected at least 2 (the first warms up), got {rounds}')
    built = {label: _instrumented_pipeline(config) for label, config in configs.items()}
    totals = {label: [] for label in configs}
    np.random.seed(0)
    with worker_threads():
        for round_ in range(rounds):
            for label, (pipeline, times) in built.items():
                if round_ == 1:
                    times.clear()
                start = time.process_time()
                for path in images:
                    pipeline(dict(img_path=path, gt_label=0, sample_idx=0))
                totals[label].append((time.process_time() - start) / len(images))
    measured = len(images) * (rounds - 1)
    results = {}
    for label, (_, times) in built.items():
        total_ms = statistics.median(totals[label][1:]) * 1e3
        results[label] = dict(total=total_ms,
                              transforms={k: sum(v) / measured * 1e3 for k, v in times.items()},
                              per_core=1e3 / total_ms)
    return results


def time_pipeline(config: str, images: Sequence[str], rounds: int = 3) -> dict:
    """:func:`time_pipelines` of one config."""
    return time_pipelines({config: config}, images, rounds)[config]


def data_table(results: Dict[str, dict], baseline: str) -> str:
    """Markdown: one row per config (total ms/image, images/s per core, ratio to
    ``baseline``), then each config's per-transform times."""
    lines = ['| config | CPU ms / image | images / s / core | ratio to ' + baseline + ' |',
             '|---|---|---|---|']
    base = results[baseline]['total']
    for label, r in results.items():
        lines.append(f"| {label} | {r['total']:.2f} | {r['per_core']:.0f} | "
                     f"{r['total'] / base:.2f} |")
    for label, r in results.items():
        lines += ['', f'{label}, per transform (ms / image; a wrapper includes what it holds):',
                  '']
        lines += [f'- `{name}`: {ms:.2f}' for name, ms in r['transforms'].items()]
        lines.append(f"- sum of the top-level transforms: "
                     f"{sum(ms for n, ms in r['transforms'].items() if '.' not in n):.2f}")
    return '\n'.join(lines) + '\n'
