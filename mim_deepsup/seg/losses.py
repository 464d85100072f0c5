"""A class-weighted per-pixel cross-entropy that accepts ignored pixels, and the class
weights of SegNet's median-frequency balancing.

mmseg 1.2.2's ``CrossEntropyLoss(class_weight=...)`` looks every label up in the weights,
the ignored label (255) among them, and fails; this loss is PyTorch's weighted mean over
the pixels that are not ignored.
"""
import glob
import os.path as osp
from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from PIL import Image

from ..analysis import metrics


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(nn.Module):
    """Per-pixel cross-entropy weighted by the class of each pixel's label.

    For logits ``x`` (N, C, H, W) and labels ``y`` (N, H, W), over the pixels ``i`` whose
    label is not ``ignore_index``::

        loss = loss_weight * sum_i w[y_i] * CE(x_i, y_i) / sum_i w[y_i]

    so scaling ``class_weight`` changes nothing, and equal weights give the plain mean.

    Args:
        class_weight (Sequence[float]): one non-negative weight per class, not all zero
            (e.g. :func:`median_frequency_weights` of the training labels).
        loss_weight (float): the factor of the loss. Defaults to 1.0.
        loss_name (str): the name the loss is logged under; mmseg sums the losses whose
            name starts with ``loss_``. Defaults to ``'loss_ce'``.
    """

    def __init__(self, class_weight: Sequence[float], loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce'):
        super().__init__()
        weights = [float(w) for w in class_weight]
        if not weights or min(weights) < 0 or max(weights) == 0:
            raise ValueError(f'class_weight: expected one non-negative weight per class, '
                             f'not all zero; got {list(class_weight)}')
        self.register_buffer('class_weight', torch.tensor(weights), persistent=False)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight=None,
                ignore_index: int = 255, **kwargs) -> torch.Tensor:
        """``cls_score`` (N, C, H, W), ``label`` (N, H, W); mmseg passes a pixel
        ``weight`` only with a pixel sampler, which this loss does not take."""
        if weight is not None:
            raise ValueError('ClassWeightedCrossEntropyLoss: a pixel sampler\'s weights '
                             'are not supported (decode_head.sampler must be None)')
        if cls_score.shape[1] != len(self.class_weight):
            raise ValueError(f'class_weight: {len(self.class_weight)} weights for '
                             f'{cls_score.shape[1]} classes (num_classes)')
        valid = label != ignore_index
        target = torch.where(valid, label, torch.zeros_like(label))
        pixel_weight = self.class_weight.to(cls_score.dtype)[target] * valid
        ce = F.cross_entropy(cls_score, target, reduction='none')
        total = pixel_weight.sum().clamp_min(torch.finfo(pixel_weight.dtype).tiny)
        return self.loss_weight * (ce * pixel_weight).sum() / total


def median_frequency_weights(annotations: str, num_classes: int) -> List[float]:
    """SegNet's median-frequency class weights
    (:func:`mim_deepsup.analysis.metrics.median_frequency_weights`) of the label maps in
    ``annotations``, a folder of PNGs in ADE20K's encoding (0 ignored, 1 + i class i)."""
    files = sorted(glob.glob(osp.join(annotations, '*.png')))
    if not files:
        raise FileNotFoundError(f'{annotations}: no .png label maps')
    counts = np.stack([np.bincount(np.asarray(Image.open(f)).ravel(),
                                   minlength=256)[1:num_classes + 1] for f in files])
    return metrics.median_frequency_weights(torch.from_numpy(counts)).tolist()
