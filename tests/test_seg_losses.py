"""The class-weighted cross-entropy of the UperNet step and its median-frequency weights,
against numbers computed by hand."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mim_deepsup.seg import ClassWeightedCrossEntropyLoss, median_frequency_weights


def test_weighted_mean_over_the_pixels_not_ignored():
    # one image of 1 x 3 pixels, 2 classes; the third pixel is ignored
    logits = torch.tensor([[[[2.0, 0.0, 5.0]], [[0.0, 1.0, -5.0]]]])  # (1, 2, 1, 3)
    label = torch.tensor([[[0, 1, 255]]])
    loss = ClassWeightedCrossEntropyLoss(class_weight=[1.0, 3.0], loss_weight=0.5)
    ce0 = math.log(1 + math.exp(-2.0))  # class 0 with logits (2, 0)
    ce1 = math.log(1 + math.exp(-1.0))  # class 1 with logits (0, 1)
    expected = 0.5 * (1.0 * ce0 + 3.0 * ce1) / (1.0 + 3.0)
    assert loss(logits, label).item() == pytest.approx(expected, rel=1e-6)
    # PyTorch's own weighted mean agrees; mmseg's CrossEntropyLoss fails on 255 here
    torch_mean = F.cross_entropy(logits, label, weight=torch.tensor([1.0, 3.0]),
                                 ignore_index=255)
    assert loss(logits, label).item() == pytest.approx(0.5 * torch_mean.item(), rel=1e-6)


def test_equal_weights_give_the_plain_mean_and_the_gradient_flows():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 5, requires_grad=True)
    label = torch.randint(0, 4, (2, 5, 5))
    label[0, 0] = 255
    loss = ClassWeightedCrossEntropyLoss(class_weight=[2.0] * 4)(logits, label)
    plain = F.cross_entropy(logits, label, ignore_index=255)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)
    loss.backward()
    assert logits.grad[0, :, 0].abs().sum() == 0  # the ignored row gets no gradient
    # every pixel ignored: a zero loss, not NaN
    empty = ClassWeightedCrossEntropyLoss(class_weight=[1.0] * 4)(
        logits, torch.full_like(label, 255))
    assert empty.item() == 0


def test_bad_weights_are_named():
    with pytest.raises(ValueError, match='class_weight: expected one non-negative'):
        ClassWeightedCrossEntropyLoss(class_weight=[1.0, -1.0])
    loss = ClassWeightedCrossEntropyLoss(class_weight=[1.0, 1.0])
    with pytest.raises(ValueError, match=r'class_weight: 2 weights for 3 classes'):
        loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


def test_median_frequency_weights_by_hand(tmp_path):
    # ADE20K's encoding: 0 ignored, 1 + i class i; 3 classes
    a = np.array([[1, 1, 1, 2], [1, 1, 0, 0]], np.uint8)  # 5 x class 0, 1 x class 1
    b = np.array([[1, 1, 3, 3], [1, 1, 3, 3]], np.uint8)  # 4 x class 0, 4 x class 2
    Image.fromarray(a).save(tmp_path / 'a.png')
    Image.fromarray(b).save(tmp_path / 'b.png')
    # freq: class 0 9/(6+8), class 1 1/6 (only in a: 6 labelled pixels), class 2 4/8
    freq = np.array([9 / 14, 1 / 6, 4 / 8])
    median = np.median(freq)  # 0.5
    weights = median_frequency_weights(str(tmp_path), 4)  # class 3 absent: weight 0
    assert weights == pytest.approx(list(median / freq) + [0.0])
    with pytest.raises(FileNotFoundError, match='no .png label maps'):
        median_frequency_weights(str(tmp_path / 'missing'), 3)
