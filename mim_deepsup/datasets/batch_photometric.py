"""Photometric transforms of a whole batch, with one parameter per image.

torchvision's colour functions take one factor for a whole call; these take a ``(B,)``
tensor of factors, so a data preprocessor can augment a batch on the model's device with
per-image random parameters, without a Python loop over images or a host sync. Images are
``(B, 3, H, W)`` float RGB in ``[0, 1]``; every function returns a new tensor.

Each function computes what torchvision's tensor kernel computes for one image with the
same factor (``torchvision.transforms.v2.functional``), up to float rounding, except
the luma weights: ITU-R 601's ``(0.299, 0.587, 0.114)``, which Pillow (and so the
released pipelines, which run on PIL images) uses; torchvision's tensor kernels use
0.2989 for red.
"""
import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1), to broadcast over an image."""
    return factor.view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * other``, clamped to [0, 1]."""
    f = _per_image(factor)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with black: ``x * factor``, clamped."""
    return blend(x, torch.zeros((), dtype=x.dtype, device=x.device), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean luma."""
    return blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's luma."""
    return blend(x, grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> HSV, each channel in [0, 1] (hue 0 for a gray pixel)."""
    r, g, b = x.unbind(1)
    value = x.amax(dim=1)
    delta = value - x.amin(dim=1)
    saturation = delta / torch.where(value > 0, value, 1)
    d = torch.where(delta > 0, delta, 1)
    hue = torch.where(value == r, (g - b) / d,
                      torch.where(value == g, 2 + (b - r) / d, 4 + (r - g) / d))
    return torch.stack([torch.remainder(hue / 6, 1.0), saturation, value], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) HSV -> RGB: channel n of (R, G, B) = V - V S clamp(min(k, 4 - k), 0, 1),
    k = (n' + 6 H) mod 6 with n' = 5, 3, 1."""
    hue, saturation, value = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = torch.remainder(n + 6 * hue, 6)
    return value - value * saturation * torch.minimum(k, 4 - k).clamp_(0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` (a fraction of the colour circle, in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(x)
    hue = torch.remainder(hsv[:, 0:1] + _per_image(shift), 1.0)
    return hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1))


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert every value >= ``threshold``."""
    return torch.where(x >= threshold, 1 - x, x)


def blur_kernel_size(max_sigma: float) -> int:
    """An odd kernel size that holds +-3 of the largest standard deviation."""
    return 2 * math.ceil(3 * max_sigma) + 1


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``sigma[i]`` for image i, all with
    one ``kernel_size``, reflect padding (as torchvision's ``gaussian_blur``)."""
    b, c, h, w = x.shape
    half = kernel_size // 2
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma.view(-1, 1).to(x.dtype))**2)   # (B, k)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    # one group per (image, channel): (1, B*C, H, W) with a (B*C, 1, k, 1) kernel per pass
    y = F.pad(x.reshape(1, b * c, h, w), (half, half, half, half), mode='reflect')
    y = F.conv2d(y, kernel.view(b * c, 1, kernel_size, 1), groups=b * c)
    y = F.conv2d(y, kernel.view(b * c, 1, 1, kernel_size), groups=b * c)
    return y.view(b, c, h, w)


COLOUR_OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def _blend_op(x: torch.Tensor, op: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness (op 0), contrast (1) or saturation (2), each image its own op: one blend
    ``clamp(f x + (1 - f) other)`` with ``other`` black, the mean luma or the luma."""
    gray = grayscale(x)
    other = torch.where(_per_image(op == 1), gray.mean(dim=(1, 2, 3), keepdim=True), gray)
    other = torch.where(_per_image(op == 0), 0, other)
    return blend(x, other, factors.gather(1, op[:, None])[:, 0])


def color_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """torchvision's ``ColorJitter`` with given parameters, per image.

    Each image's order is its three blends (brightness, contrast, saturation) with the hue
    rotation somewhere among them: the blends before its hue, one hue rotation of the
    whole batch, then the blends after it. Six batched blends and one rotation, whatever
    the orders (the rotation costs about as much as the six blends together).

    Args:
        x (torch.Tensor): (B, 3, H, W) RGB in [0, 1].
        factors (torch.Tensor): (B, 4) brightness, contrast and saturation factors and hue
            shift.
        order (torch.Tensor): (B, 4) a permutation of (0, 1, 2, 3) per image: the order in
            which brightness (0), contrast (1), saturation (2) and hue (3) (``COLOUR_OPS``)
            are applied.
    """
    hue_slot = (order == 3).int().argmax(dim=1)  # (B,) where the hue rotation comes
    # the three blends in their order: a stable sort moves the hue entry to the end
    blends = order.gather(1, (order == 3).int().argsort(dim=1, stable=True)[:, :3])  # (B, 3)
    for j in range(3):  # the blends before the hue rotation
        x = torch.where(_per_image(j < hue_slot), _blend_op(x, blends[:, j], factors), x)
    x = adjust_hue(x, factors[:, 3])
    for j in range(3):  # and those after it
        x = torch.where(_per_image(j >= hue_slot), _blend_op(x, blends[:, j], factors), x)
    return x
