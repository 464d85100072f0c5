"""A folder of images as one normalised tensor, for the analysis tools."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
# the pixel statistics of mmpretrain's MAE/BEiT data preprocessors (RGB, 0-255)
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def find_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursively), sorted."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: no such image folder')
    paths = sorted(osp.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.lower().endswith(EXTENSIONS))
    if not paths:
        raise ValueError(f'{folder}: no images ({", ".join(EXTENSIONS)}) in it')
    return paths


def load_images(paths: List[str], size: int) -> torch.Tensor:
    """(n, 3, size, size): each image as RGB, resized (bicubic) to the square the encoder
    was pretrained at and normalised as in pretraining; an unreadable file is an error
    that names it."""
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert('RGB').resize((size, size), Image.BICUBIC)
        except (OSError, ValueError) as e:
            raise ValueError(f'{path}: not a readable image ({e})') from None
        images.append(torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1))
    return (torch.stack(images) - MEAN) / STD


def load_folder(folder: str, size: int, limit: Optional[int] = None
                ) -> Tuple[torch.Tensor, List[str]]:
    """The first ``limit`` images of ``folder`` (sorted) and their paths."""
    paths = find_images(folder)[:limit]
    return load_images(paths, size), paths


def load_labelled_folder(folder: str, size: int, limit: Optional[int] = None
                         ) -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """``folder/<class>/<image>``: images, labels (index in the sorted class names) and
    the class names; at most ``limit`` images per class."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: no such image folder')
    classes = sorted(d for d in os.listdir(folder) if osp.isdir(osp.join(folder, d)))
    if not classes:
        raise ValueError(f'{folder}: expected one sub-folder of images per class')
    paths, labels = [], []
    for index, name in enumerate(classes):
        found = find_images(osp.join(folder, name))[:limit]
        paths += found
        labels += [index] * len(found)
    return load_images(paths, size), torch.tensor(labels), classes


def load_label_maps(paths: List[str], size: int) -> torch.Tensor:
    """(n, size, size) long: label maps in ADE20K's encoding (0 ignored, 1 + i class i),
    resized (nearest) to ``size`` and shifted to class indices, the ignored pixels 255 (as
    mmseg's ``reduce_zero_label``)."""
    maps = []
    for path in paths:
        try:
            with Image.open(path) as image:
                label = np.asarray(image.resize((size, size), Image.NEAREST), np.int64)
        except (OSError, ValueError) as e:
            raise ValueError(f'{path}: not a readable label map ({e})') from None
        if label.ndim != 2:
            raise ValueError(f'{path}: expected a one-channel label map, got shape '
                             f'{label.shape}')
        maps.append(torch.from_numpy(np.where(label == 0, 255, label - 1)))
    return torch.stack(maps)
