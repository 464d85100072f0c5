"""LUT's view pipeline on the CPU: the views' crop and the context view's colour changes
per image (docs/methods.md, LUT; the device counterpart is
:mod:`mim_deepsup.datasets.context_view_augment`)."""
from typing import Dict, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose, RandomChoice
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import ResizeEdge
from mmpretrain.registry import TRANSFORMS

from ...core.validation import check_choice, check_number, check_numbers

# ITU-R 601 luma (as PIL's convert('L')), in the BGR order mmpretrain loads images in
BGR_LUMA = (0.114, 0.587, 0.299)


@TRANSFORMS.register_module()
class SimpleResizedCrop(BaseTransform):
    """LUT's view crop (DeiT III's "simple random crop", as the released code).

    Resize the short side to ``size`` (mmpretrain's ``ResizeEdge``, Pillow bicubic as the
    released code), pad every border by ``padding`` pixels (reflect by default) and crop
    ``size`` x ``size`` at a uniformly random position. An image whose short side is
    ``size`` already is not resized again (a resize to its own size gives it back as it
    is), so two views can share one resize placed before ``MultiView``. There is no scale or
    aspect-ratio
    jitter: a square image keeps its whole content, shifted by at most ``padding`` pixels;
    a longer side is cropped. (mmpretrain's ``RandomCrop`` ignores ``padding_mode`` for its
    ``padding``, always padding with a constant, so the padding is done here.)

    **Required keys:** img. **Modified keys:** img, img_shape.

    Args:
        size (int): the output side, in pixels.
        padding (int): pixels padded on each border before the crop. Defaults to 4.
        padding_mode (str): 'reflect' (released), 'constant', 'edge' or 'symmetric'.
            Defaults to 'reflect'.
        interpolation (str): Pillow interpolation of the resize: 'nearest', 'bilinear',
            'bicubic', 'box', 'lanczos' or 'hamming'. Defaults to 'bicubic'.
    """

    def __init__(self, size: int, padding: int = 4, padding_mode: str = 'reflect',
                 interpolation: str = 'bicubic') -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f'SimpleResizedCrop.size: expected a positive int, got {size!r}')
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f'SimpleResizedCrop.padding: expected an int >= 0, '
                             f'got {padding!r}')
        modes = ('reflect', 'constant', 'edge', 'symmetric')
        if padding_mode not in modes:
            raise ValueError(f'SimpleResizedCrop.padding_mode: expected one of {modes}, '
                             f'got {padding_mode!r}')
        # the interpolations of Pillow's resize (mmcv's ``pillow_interp_codes``)
        check_choice(interpolation, 'SimpleResizedCrop.interpolation',
                     ('nearest', 'bilinear', 'bicubic', 'box', 'lanczos', 'hamming'))
        self.size = size
        self.padding = padding
        self.padding_mode = padding_mode
        self.resize = ResizeEdge(size, edge='short', backend='pillow',
                                 interpolation=interpolation)

    @cache_randomness
    def offsets(self, height: int, width: int):
        """Top-left corner of the crop in the padded (height, width) image."""
        return (np.random.randint(0, height - self.size + 1),
                np.random.randint(0, width - self.size + 1))

    def transform(self, results: Dict) -> Dict:
        if min(results['img'].shape[:2]) != self.size:  # else resized already: the same
            results = self.resize(results)
        img = results['img']  # (H', W', 3), short side = size
        if self.padding:
            img = mmcv.impad(img, padding=self.padding, padding_mode=self.padding_mode)
        top, left = self.offsets(*img.shape[:2])
        img = img[top:top + self.size, left:left + self.size]
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, padding={self.padding}, '
                f'padding_mode={self.padding_mode!r}, '
                f'interpolation={self.resize.interpolation!r})')


@TRANSFORMS.register_module()
class ThreeAugment(RandomChoice):
    """Apply exactly one of three colour transforms, chosen uniformly (DeiT III's
    3-Augment, used by the released code on the context view).

    - grayscale: mmcv's ``RandomGrayscale`` with luma weights, 3 channels kept;
    - solarize: mmpretrain's ``Solarize``, pixels >= ``solarize_thr`` inverted (PIL's
      ``ImageOps.solarize`` default 128);
    - Gaussian blur: mmpretrain's ``GaussianBlur`` (Pillow), radius uniform in
      ``blur_radius``.

    Args:
        solarize_thr (float): the solarize threshold, in [0, 256]. Defaults to 128.
        blur_radius (Sequence[float]): (min, max) of the blur radius. Defaults to (0.1, 2.0).
        color_format (str): 'bgr' (mmpretrain's ``LoadImageFromFile``) or 'rgb': the order
            of the grayscale weights. Defaults to 'bgr'.
    """

    def __init__(self, solarize_thr: float = 128, blur_radius: Sequence[float] = (0.1, 2.0),
                 color_format: str = 'bgr') -> None:
        if color_format not in ('bgr', 'rgb'):
            raise ValueError(f"ThreeAugment.color_format: expected 'bgr' or 'rgb', got "
                             f'{color_format!r}')
        # 0: every pixel inverted, 256: none
        check_number(solarize_thr, 'ThreeAugment.solarize_thr', 0, 256)
        low, high = self._range(blur_radius)
        weights = BGR_LUMA if color_format == 'bgr' else BGR_LUMA[::-1]
        super().__init__(transforms=[
            [dict(type='RandomGrayscale', prob=1.0, keep_channels=True,
                  channel_weights=weights)],
            [dict(type='mmpretrain.Solarize', thr=solarize_thr, prob=1.0)],
            # radius = low + U(0, 10) / 10 * (high - low), i.e. uniform in [low, high]
            [dict(type='mmpretrain.GaussianBlur', magnitude_range=(low, high), magnitude_std='inf',
                  prob=1.0)],
        ])

    @staticmethod
    def _range(radius: Sequence[float]) -> Tuple[float, float]:
        check_numbers(radius, 'ThreeAugment.blur_radius', count=2, minimum=0)
        if not radius[0] <= radius[1]:
            raise ValueError(f'ThreeAugment.blur_radius: expected (min, max) with '
                             f'0 <= min <= max, got {radius!r}')
        return float(radius[0]), float(radius[1])


@TRANSFORMS.register_module()
class ContextViewColour(BaseTransform):
    """The context view's colour changes per image, on the CPU, as the released pipeline
    makes them: torchvision's ``ColorJitter`` on a PIL image with probability
    ``jitter_prob`` (mmpretrain's ``torchvision/`` wrapper; mmpretrain's own ColorJitter
    fails on numpy 2 for a negative hue shift), then :class:`ThreeAugment`. The per-image
    counterpart of :class:`ContextViewAugment`, with its arguments (the blur's standard
    deviation is Pillow's radius); the ``lut-cpuaug_*`` configs use it.

    **Required keys:** img (BGR uint8). **Modified keys:** img.

    Args: :class:`ContextViewAugment`'s (jitter_prob, brightness, contrast, saturation,
    hue, solarize_thr, blur_sigma), with the same types and defaults.
    """

    def __init__(self, jitter_prob: float = 0.8, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.2, hue: float = 0.1,
                 solarize_thr: float = 128, blur_sigma: Sequence[float] = (0.1, 2.0)) -> None:
        check_number(jitter_prob, 'ContextViewColour.jitter_prob', 0, 1)
        steps = [
            dict(type='NumpyToPIL', to_rgb=True),
            dict(type='RandomApply', prob=jitter_prob, transforms=[
                dict(type='torchvision/ColorJitter', brightness=brightness, contrast=contrast,
                     saturation=saturation, hue=hue)]),
            dict(type='PILToNumpy', to_bgr=True),
            dict(type='ThreeAugment', solarize_thr=solarize_thr, blur_radius=blur_sigma),
        ]
        self.transforms = Compose([TRANSFORMS.build(step) for step in steps])

    def transform(self, results: Dict) -> Dict:
        return self.transforms(results)
