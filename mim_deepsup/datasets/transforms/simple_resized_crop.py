"""Simple resized crop (SRC): short side to the crop size, then a crop with padding."""
from typing import Dict

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import ResizeEdge
from mmpretrain.registry import TRANSFORMS

from ...validation import check_choice


@TRANSFORMS.register_module()
class SimpleResizedCrop(BaseTransform):
    """LUT's view crop (METHODS.md, LUT; DeiT III's "simple random crop").

    Resize the short side to ``size`` (mmpretrain's ``ResizeEdge``, Pillow bicubic as the
    released code), pad every border by ``padding`` pixels (reflect by default) and crop
    ``size`` x ``size`` at a uniformly random position. There is no scale or aspect-ratio
    jitter: a square image keeps its whole content, shifted by at most ``padding`` pixels;
    a longer side is cropped. (mmpretrain's ``RandomCrop`` ignores ``padding_mode`` for its
    ``padding``, always padding with a constant, so the padding is done here.)

    **Required keys:** img. **Modified keys:** img, img_shape.

    Args:
        size (int): the output side, in pixels.
        padding (int): pixels padded on each border before the crop.
        padding_mode (str): 'reflect' (released), 'constant', 'edge' or 'symmetric'.
        interpolation (str): Pillow interpolation of the resize: 'nearest', 'bilinear',
            'bicubic', 'box', 'lanczos' or 'hamming'.
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
        img = self.resize(results)['img']  # (H', W', 3), short side = size
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
