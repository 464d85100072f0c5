"""LUT's context-view colour augmentation on the batch, on the model's device, and the
data preprocessor that applies it (docs/methods.md, LUT)."""
from typing import Dict, Sequence, Union

import torch
from mmengine.dist import get_dist_info
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS
from torch import nn

from ..core.validation import build, check_dict, check_int, check_number, check_numbers
from . import batch_photometric as bp


@MODELS.register_module()
class ContextViewAugment(nn.Module):
    """The context view's colour augmentation on the batch, on the model's device.

    What the CPU pipeline's ``RandomApply(ColorJitter)`` + :class:`ThreeAugment` do to
    each image, with per-image parameters drawn as tensors::

        jittered_i ~ Bernoulli(jitter_prob)
        order_i    = a uniform random permutation of (brightness, contrast, saturation, hue)
        b_i ~ U(max(0, 1 - brightness), 1 + brightness), c_i, s_i likewise,
        h_i ~ U(-hue, hue)
        x_i <- ColorJitter(x_i; b_i, c_i, s_i, h_i, order_i)   if jittered_i
        one of 3, uniformly:  grayscale (3 channels) | solarize (>= solarize_thr inverted)
                              | Gaussian blur, std sigma_i ~ U(blur_sigma)

    These are torchvision's ``ColorJitter.get_params`` distributions and the released
    3-Augment's; the functions are :mod:`mim_deepsup.datasets.batch_photometric`'s. The
    values differ from the per-image CPU path only by where it rounds to uint8 (after each
    colour operation) and by Pillow's box approximation of the Gaussian blur (measured in
    docs/performance.md, "LUT's colour augmentation on the device").

    Args:
        jitter_prob (float): probability of the colour jitter, in [0, 1]. Defaults to 0.8.
        brightness (float): the brightness jitter strength, >= 0. Defaults to 0.4.
        contrast (float): the contrast jitter strength, >= 0. Defaults to 0.4.
        saturation (float): the saturation jitter strength, >= 0. Defaults to 0.2.
        hue (float): hue shift bound, in [0, 0.5]. Defaults to 0.1.
        solarize_thr (float): the solarize threshold on [0, 255] values, in [0, 256].
            Defaults to 128.
        blur_sigma (Sequence[float]): (min, max) of the blur's standard deviation, > 0.
            Defaults to (0.1, 2.0).
    """

    def __init__(self, jitter_prob: float = 0.8, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.2, hue: float = 0.1,
                 solarize_thr: float = 128, blur_sigma: Sequence[float] = (0.1, 2.0)) -> None:
        super().__init__()
        # keys as in the config: the builder puts data_preprocessor.context_augment before
        self.jitter_prob = check_number(jitter_prob, 'jitter_prob', 0, 1)
        self.strengths = tuple(
            check_number(v, name, minimum=0) for name, v in
            (('brightness', brightness), ('contrast', contrast), ('saturation', saturation)))
        self.hue = check_number(hue, 'hue', 0, 0.5)
        self.solarize_thr = check_number(solarize_thr, 'solarize_thr', 0, 256)
        low, high = check_numbers(blur_sigma, 'blur_sigma', count=2, minimum=0, open_min=True)
        if low > high:
            raise ValueError(f'blur_sigma: expected (min, max) with min <= max, '
                             f'got {blur_sigma!r}')
        self.blur_sigma = (low, high)
        self.kernel_size = bp.blur_kernel_size(high)

    def draw(self, batch_size: int, device: torch.device) -> Dict[str, torch.Tensor]:
        """Every image's parameters: ``jitter`` (B,) bool, ``factors`` (B, 4) brightness,
        contrast, saturation and hue shift, ``order`` (B, 4), ``choice`` (B,) in {0:
        grayscale, 1: solarize, 2: blur} and ``sigma`` (B,)."""
        u = torch.rand(batch_size, 6, device=device)
        # torchvision's ranges: U(max(0, 1 - s), 1 + s) for each strength s, U(-hue, hue)
        low = torch.tensor([max(0.0, 1 - s) for s in self.strengths] + [-self.hue],
                           device=device)
        high = torch.tensor([1 + s for s in self.strengths] + [self.hue], device=device)
        factors = low + (high - low) * u[:, :4]
        sigma_min, sigma_max = self.blur_sigma
        return dict(jitter=u[:, 4] < self.jitter_prob, factors=factors,
                    order=torch.rand(batch_size, 4, device=device).argsort(dim=1),
                    choice=torch.randint(3, (batch_size, ), device=device),
                    sigma=sigma_min + (sigma_max - sigma_min) * u[:, 5])

    def transform(self, x: torch.Tensor, params: Dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 3, H, W) float RGB in [0, 1] -> the same, augmented with ``params``."""
        jittered = bp.color_jitter(x, params['factors'], params['order'])
        x = torch.where(params['jitter'].view(-1, 1, 1, 1), jittered, x)
        choice = params['choice'].view(-1, 1, 1, 1)
        out = torch.where(choice == 0, bp.grayscale(x).expand_as(x),
                          bp.solarize(x, self.solarize_thr / 255))
        return torch.where(choice == 2, bp.gaussian_blur(x, params['sigma'], self.kernel_size),
                           out)

    def forward(self, x: torch.Tensor, bgr: bool) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 255] (uint8 or float; BGR if ``bgr``) -> float in
        [0, 255], same channel order, augmented with freshly drawn parameters."""
        order = [2, 1, 0] if bgr else [0, 1, 2]
        rgb = x[:, order].float() / 255
        # as core.view_masking.mask_noise: the global batch's parameters, this rank's rows
        # (r, r + W, ...), so ranks with one seed do not share parameters and W processes
        # augment each image as one process of the same global batch would
        rank, world_size = get_dist_info()
        params = self.draw(world_size * x.shape[0], x.device)
        params = {key: value[rank::world_size] for key, value in params.items()}
        return self.transform(rgb, params)[:, order] * 255


@MODELS.register_module()
class LUTDataPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` that first augments the context view of
    each training batch on the device (:class:`ContextViewAugment`).

    Args:
        context_augment (dict, optional): the :class:`ContextViewAugment` arguments;
            ``None`` for none (the CPU pipeline augments the view instead). Defaults to
            None.
        context_view (int): which of the views is the context view (LUT: the second).
            Defaults to 1.
        to_rgb (bool): the images arrive in BGR (mmpretrain's loading) and are converted
            to RGB, as ``SelfSupDataPreprocessor``'s. Defaults to False.
        bgr_to_rgb (bool): the same, under its other name. Defaults to False.
        **kwargs: the rest of ``SelfSupDataPreprocessor``'s arguments (mean, std, ...).
    """

    def __init__(self, context_augment: Union[dict, None] = None, context_view: int = 1,
                 to_rgb: bool = False, bgr_to_rgb: bool = False, **kwargs) -> None:
        super().__init__(to_rgb=to_rgb, bgr_to_rgb=bgr_to_rgb, **kwargs)
        # the augmentation reads colours: in which order the channels arrive
        self.inputs_bgr = bool(to_rgb or bgr_to_rgb)
        check_dict(context_augment, 'data_preprocessor.context_augment')
        self.context_augment = None if context_augment is None else build(
            MODELS, dict(dict(type='ContextViewAugment'), **context_augment),
            'data_preprocessor.context_augment')
        self.context_view = check_int(context_view, 'data_preprocessor.context_view', 0)

    def forward(self, data: dict, training: bool = False) -> dict:
        if training and self.context_augment is not None:
            data = self.cast_data(data)  # on the device; the parent's cast is then a no-op
            views = data['inputs']
            if not isinstance(views, (list, tuple)):
                raise ValueError('data_preprocessor.context_augment: expected the views of '
                                 'a MultiView pipeline (a list of batches), got one batch')
            views = list(views)
            if not self.context_view < len(views):
                raise ValueError(f'data_preprocessor.context_view: expected a view index '
                                 f'below the {len(views)} views the pipeline gives, got '
                                 f'{self.context_view}')
            # the parent converts BGR to RGB (to_rgb) after this: the view keeps its order
            views[self.context_view] = self.context_augment(views[self.context_view],
                                                            bgr=self.inputs_bgr)
            data = dict(data, inputs=views)
        return super().forward(data, training)
