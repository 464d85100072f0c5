"""Targets computed from the images themselves: HOG per patch (MaskFeat) and low-frequency
pixels (PixMIM)."""
from typing import Sequence, Tuple

import torch
from mmpretrain.models.selfsup.maskfeat import HOGGenerator
from mmpretrain.registry import MODELS
from torch import nn

from .targets import IMAGENET_MEAN, IMAGENET_STD
from .validation import check_int, check_number, check_numbers


@MODELS.register_module()
class PatchHOGTarget(HOGGenerator):
    """mmpretrain's :class:`HOGGenerator` (MaskFeat's target), its cells grouped by patch.

    mmpretrain computes HOG the same way (Sobel gradients of each channel, orientation
    histograms of ``nbins`` bins weighted by magnitude and a Gaussian window, summed over
    ``pool`` x ``pool`` cells, L2-normalised per cell) and then groups the cells of a 14 x 14
    patch grid, i.e. ViT-B/16 at 224 px. Here the cells are grouped by ``patch_size``, so the
    target fits any image and patch size; at 224 px and patch 16 it is mmpretrain's.

    Shapes: (B, 3, H, W) preprocessed images -> (B, N, D), N = (H / p)(W / p) patches and
    D = 3 * nbins * (p / pool)^2 (MaskFeat's ViT-B/16: 3 * 9 * 2^2 = 108).

    Args:
        patch_size (int): p, the student's patch size, a multiple of ``pool``.
            Defaults to 16.
        nbins (int): orientation bins, >= 1. Defaults to 9.
        pool (int): cell size in pixels, >= 1. Defaults to 8.
        gaussian_window (int): the Gaussian window's size (0 for none); the image height
            must be a multiple of it. Defaults to 16.
    """

    def __init__(self, patch_size: int = 16, nbins: int = 9, pool: int = 8,
                 gaussian_window: int = 16) -> None:
        key = 'model.target_generator'
        patch_size = check_int(patch_size, f'{key}.patch_size', 1)
        pool = check_int(pool, f'{key}.pool', 1)
        if patch_size % pool:
            raise ValueError(f'{key}.pool: expected a divisor of patch_size={patch_size}, '
                             f'got {pool}')
        super().__init__(nbins=check_int(nbins, f'{key}.nbins', 1), pool=pool,
                         gaussian_window=check_int(gaussian_window, f'{key}.gaussian_window',
                                                   0))
        self.patch_size = patch_size
        self.out_channels = 3 * nbins * (patch_size // pool)**2

    def check_input_size(self, size: Tuple[int, int]) -> None:
        """The algorithm's check that its (H, W) images fit the cells and the window."""
        key = 'model.target_generator.gaussian_window'
        if self.gaussian_window and any(side % self.gaussian_window for side in size):
            raise ValueError(f'{key}: expected a divisor of the images\' sides {size}, got '
                             f'{self.gaussian_window}')

    def _reshape(self, hog_feat: torch.Tensor) -> torch.Tensor:
        """(B, 3, nbins, H / pool, W / pool) cells -> (B, N, D) cells of each patch."""
        cells = self.patch_size // self.pool  # cells per patch side
        hog_feat = hog_feat.flatten(1, 2).permute(0, 2, 3, 1)  # (B, H / pool, W / pool, 3 nbins)
        hog_feat = hog_feat.unfold(1, cells, cells).unfold(2, cells, cells)
        return hog_feat.flatten(1, 2).flatten(2)  # (B, N, 3 nbins cells^2)


@MODELS.register_module()
class LowFreqPixelTarget(nn.Module):
    """PixMIM's target images: each image with its high spatial frequencies removed.

    Per channel of the unnormalised image x (values in [0, 1]), with F the centred 2-D
    Fourier transform (``fftshift(fft2(x))``) and an ideal disc of radius r around the
    point ((h - 1) / 2, (w - 1) / 2) as the filter, as PixMIM's released target::

        x_low = | ifft2(F(x) * [(u - (h - 1) / 2)^2 + (v - (w - 1) / 2)^2 <= r^2]) |

    (the modulus undoes the centring shift, which is a unit-modulus phase factor in the
    image), normalised back like the input. The algorithm's pixel head makes its norm-pix
    patches of these images instead of the input images (``state.pixels``): MAE's decoder,
    DeepMIM's decoders and DDAE's weighted loss all regress them.

    Shapes: (B, 3, H, W) preprocessed images -> (B, 3, H, W), H x W = ``img_size``.

    Args:
        radius (float): r, in frequency samples, > 0 (PixMIM: 40 at 224 px). Defaults to 40.
        img_size (int | Sequence[int]): (H, W) of the images, or one side of square ones.
            Defaults to 224.
        input_mean (Sequence[float]): the mean of the data preprocessor's normalisation on
            [0, 255] (ImageNet's by default). Defaults to (123.675, 116.28, 103.53).
        input_std (Sequence[float]): the std of the data preprocessor's normalisation on
            [0, 255] (ImageNet's by default). Defaults to (58.395, 57.12, 57.375).
    """

    gives_images = True  # the output is images, for the pixel head's target

    def __init__(self, radius: float = 40, img_size=224,
                 input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        key = 'model.target_generator'
        radius = check_number(radius, f'{key}.radius', minimum=0, open_min=True)
        size = (img_size, img_size) if isinstance(img_size, int) else img_size
        height, width = (int(v) for v in check_numbers(size, f'{key}.img_size', count=2,
                                                        minimum=1))
        mean = check_numbers(input_mean, f'{key}.input_mean', count=3)
        std = check_numbers(input_std, f'{key}.input_std', count=3, minimum=0, open_min=True)
        self.img_size = (height, width)
        u = torch.arange(height, dtype=torch.float64)[:, None] - (height - 1) / 2
        v = torch.arange(width, dtype=torch.float64)[None, :] - (width - 1) / 2
        self.register_buffer('disc', (u**2 + v**2 <= radius**2).float(), persistent=False)
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1) / 255,
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1) / 255, persistent=False)

    def check_input_size(self, size: Tuple[int, int]) -> None:
        """The algorithm's check that its (H, W) images are the filter's size."""
        if tuple(size) != self.img_size:
            raise ValueError(f'model.target_generator.img_size: expected the images\' size '
                             f'{tuple(size)}, got {self.img_size}')

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() * self.std + self.mean  # (B, 3, H, W) in [0, 1]
        spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        low = torch.fft.ifft2(spectrum * self.disc).abs()
        return (low - self.mean) / self.std
