"""3-Augment: exactly one of grayscale, solarize and Gaussian blur."""
from typing import Sequence, Tuple

from mmcv.transforms import RandomChoice
from mmpretrain.registry import TRANSFORMS

from ...validation import check_number, check_numbers

# ITU-R 601 luma (as PIL's convert('L')), in the BGR order mmpretrain loads images in
BGR_LUMA = (0.114, 0.587, 0.299)


@TRANSFORMS.register_module()
class ThreeAugment(RandomChoice):
    """Apply exactly one of three colour transforms, chosen uniformly (METHODS.md, LUT;
    DeiT III's 3-Augment, used by the released code on the context view).

    - grayscale: mmcv's ``RandomGrayscale`` with luma weights, 3 channels kept;
    - solarize: mmpretrain's ``Solarize``, pixels >= ``solarize_thr`` inverted (PIL's
      ``ImageOps.solarize`` default 128);
    - Gaussian blur: mmpretrain's ``GaussianBlur`` (Pillow), radius uniform in
      ``blur_radius``.

    Args:
        solarize_thr (float): the solarize threshold, in [0, 256].
        blur_radius (Sequence[float]): (min, max) of the blur radius.
        color_format (str): 'bgr' (mmpretrain's ``LoadImageFromFile``) or 'rgb': the order
            of the grayscale weights.
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
