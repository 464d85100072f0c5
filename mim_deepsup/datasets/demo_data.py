"""A small deterministic image dataset with structure, for the demo and the tests.

Each image is a textured two-colour background with one to three textured shapes; the
largest shape's kind is the image's class, and every pixel's kind is its segmentation
label. The same images are written in the layouts mmpretrain and mmsegmentation read:

    ROOT/imagenet/train/<class>/<name>.JPEG     CustomDataset folders (+ meta/train.txt)
    ROOT/imagenet/val/<class>/<name>.JPEG       (+ meta/val.txt, ImageNet-style lists)
    ROOT/ade/images/training/<name>.jpg         ADE20K layout
    ROOT/ade/annotations/training/<name>.png    0 = ignore (shape outlines),
    ROOT/ade/images/validation/...              1 = background, 2.. = shape kinds

Generation is deterministic: the same arguments give byte-identical files.
"""
import os
import os.path as osp
from typing import Dict

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import atomic_folder

SHAPES = ('disc', 'ring', 'square', 'triangle')  # sorted, as CustomDataset sorts folders
#: segmentation classes: label 1 + i is SEG_CLASSES[i]; label 0 is ignored
SEG_CLASSES = ('background', ) + SHAPES


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) in [0, 1]: stripes, checkers or a smooth blend, randomly oriented."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, np.pi)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    v = -np.sin(angle) * xx + np.cos(angle) * yy
    freq = rng.uniform(3, 9)
    kind = rng.integers(3)
    if kind == 0:
        return (np.sin(2 * np.pi * freq * u) > 0).astype(np.float32)
    if kind == 1:
        return ((np.floor(freq * u) + np.floor(freq * v)) % 2).astype(np.float32)
    return 0.5 + 0.5 * np.sin(2 * np.pi * u * freq / 3)


def _paint(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float image: two random colours mixed by a random texture."""
    c1, c2 = rng.uniform(0, 255, size=(2, 3))
    t = _texture(rng, size)[..., None]
    return c1 * (1 - 0.6 * t) + c2 * 0.6 * t


def _shape_mask(rng: np.random.Generator, kind: str, size: int, scale: float):
    """Filled mask and outline mask ('L' images) of one shape."""
    r = scale * size / 2
    cx, cy = rng.uniform(r, size - r, size=2)
    box = [cx - r, cy - r, cx + r, cy + r]
    fill, line = Image.new('L', (size, size)), Image.new('L', (size, size))
    draw_fill, draw_line = ImageDraw.Draw(fill), ImageDraw.Draw(line)
    if kind == 'disc':
        draw_fill.ellipse(box, fill=255)
        draw_line.ellipse(box, outline=255)
    elif kind == 'square':
        draw_fill.rectangle(box, fill=255)
        draw_line.rectangle(box, outline=255)
    elif kind == 'triangle':
        a = rng.uniform(0, 2 * np.pi)
        pts = [(cx + r * np.cos(a + k * 2 * np.pi / 3), cy + r * np.sin(a + k * 2 * np.pi / 3))
               for k in range(3)]
        draw_fill.polygon(pts, fill=255)
        draw_line.polygon(pts, outline=255)
    else:  # ring
        width = max(2, int(r / 2.5))
        draw_fill.ellipse(box, outline=255, width=width)
        draw_line.ellipse(box, outline=255)
        inner = [box[0] + width, box[1] + width, box[2] - width, box[3] - width]
        draw_line.ellipse(inner, outline=255)
    return np.asarray(fill) > 0, np.asarray(line) > 0


def make_demo_image(seed: int, size: int = 64):
    """One sample: (H, W, 3) uint8 image, (H, W) uint8 label map, class index."""
    rng = np.random.default_rng(seed)
    image = _paint(rng, size)
    label = np.ones((size, size), np.uint8)
    main_kind = int(rng.integers(len(SHAPES)))
    kinds = [main_kind] + list(rng.integers(len(SHAPES), size=rng.integers(0, 3)))
    scales = [rng.uniform(0.55, 0.8)] + [rng.uniform(0.2, 0.35) for _ in kinds[1:]]
    for kind, scale in zip(kinds, scales):
        fill, outline = _shape_mask(rng, SHAPES[kind], size, scale)
        image[fill] = _paint(rng, size)[fill]
        label[fill] = 2 + kind
        label[outline] = 0
    noise = rng.normal(0, 6, size=image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return image, label, main_kind


def _write_split(root: str, split: str, ade_split: str, start: int, count: int,
                 size: int) -> None:
    lines = []
    for i in range(start, start + count):
        image, label, cls = make_demo_image(i, size)
        name = f'demo_{i:05d}'
        rel = osp.join(SHAPES[cls], f'{name}.JPEG')
        os.makedirs(osp.join(root, 'imagenet', split, SHAPES[cls]), exist_ok=True)
        Image.fromarray(image).save(osp.join(root, 'imagenet', split, rel), quality=95)
        Image.fromarray(image).save(
            osp.join(root, 'ade', 'images', ade_split, f'{name}.jpg'), quality=95)
        Image.fromarray(label).save(osp.join(root, 'ade', 'annotations', ade_split, f'{name}.png'))
        lines.append(f'{rel} {cls}\n')
    with open(osp.join(root, 'imagenet', 'meta', f'{split}.txt'), 'w') as f:
        f.writelines(lines)


def make_demo_data(root: str, num_train: int = 256, num_val: int = 64, size: int = 64,
                   overwrite: bool = False) -> Dict[str, str]:
    """Write the demo dataset under ``root`` and return the paths of its parts.

    The dataset is written into a temporary folder beside ``root`` and renamed into place,
    so an interrupted run never leaves a half-written dataset. An existing ``root`` is kept
    as it is unless ``overwrite``.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    if size < 16:
        raise ValueError(f'size must be >= 16 pixels, got {size}')
    root = osp.abspath(root)
    paths = dict(root=root, imagenet=osp.join(root, 'imagenet'), ade=osp.join(root, 'ade'))
    if osp.isdir(root) and not overwrite:
        return paths

    def fill(tmp: str) -> None:
        os.makedirs(osp.join(tmp, 'imagenet', 'meta'))
        for kind in ('images', 'annotations'):
            for split in ('training', 'validation'):
                os.makedirs(osp.join(tmp, 'ade', kind, split))
        _write_split(tmp, 'train', 'training', 0, num_train, size)
        _write_split(tmp, 'val', 'validation', num_train, num_val, size)

    atomic_folder(root, fill, prefix='.demo-data-')
    return paths
