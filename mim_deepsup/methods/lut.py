"""LUT: learning with unmasked tokens (docs/methods.md, LUT).

MAE's loss on one masked view, plus a broader-contextualization loss between the pooled
visible tokens of two masked views and a momentum (EMA) teacher's pooled tokens of the
same views unmasked::

    views      x_1 (MIM view), x_2 (context view; colour jitter + 3-Augment), (B, 3, H, W)
    masks      disjoint visible sets of K patches, one noise draw
    q_v = predictor(projector(mean of view v's K visible tokens))   (B, D)
    k_v = projector_ema(mean of view v's N tokens, teacher)          (B, D), no grad
    L_BC = mean(2 - 2 cos(q_2, k_1), 2 - 2 cos(q_1, k_2))
    loss = loss_mim(x_1) + weight * L_BC

Parts: :class:`LUTSupervision` (the component: projector, predictor and the loss), its
heads' :class:`AllReduceBatchNorm` (SyncBN on any device), the view pipeline's
:class:`SimpleResizedCrop`, and the context view's colour augmentation: on the device,
batched (:class:`ContextViewAugment`, applied by :class:`LUTDataPreprocessor`; the configs'
default), or per image on the CPU (:class:`ContextViewColour`: ColorJitter and
:class:`ThreeAugment`). The algorithm (``ComposableMAE``)
masks and encodes both views in one batched pass and runs the teacher once on both.

Where each choice comes from: the two views and their augmentations, the disjoint masks,
the cross-view cosine loss, the 4096-wide two-layer heads with BatchNorm, the weight 0.25
for ViT-B and the momentum 0.996 -> 1 are the released code's (the paper: weight 1.0 for
ViT-S); running both views in one batched pass is ours (the same losses up to rounding).
"""
from typing import Dict, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmcv.transforms import BaseTransform, Compose, RandomChoice
from mmcv.transforms.utils import cache_randomness
from mmengine.dist import get_dist_info
from mmpretrain.datasets.transforms import ResizeEdge
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS, TRANSFORMS
from torch import nn

from ..core.component import BaseSupervision
from ..core.state import MIMState
from ..core.validation import (
    build,
    check_choice,
    check_dict,
    check_int,
    check_number,
    check_numbers,
)
from ..datasets import batch_photometric as bp

# ITU-R 601 luma (as PIL's convert('L')), in the BGR order mmpretrain loads images in
BGR_LUMA = (0.114, 0.587, 0.299)


def mlp_head(cfg: Union[dict, str, None], embed_dims: int, key: str) -> nn.Module:
    """The released code's projector/predictor: Linear (no bias) -> BatchNorm1d -> ReLU ->
    Linear (no bias), 4096 hidden, D out, Xavier-uniform linears, built as mmpretrain's
    ``NonLinearNeck``; a dict ``cfg`` overrides any of it. ``'identity'`` gives the identity
    (the released code's depth 0)."""
    if cfg == 'identity':
        return nn.Identity()
    if not isinstance(cfg, (dict, type(None))):
        raise TypeError(f"{key}: expected a dict of NonLinearNeck arguments or 'identity', "
                        f"got {cfg!r}")
    default = dict(
        type='NonLinearNeck', in_channels=embed_dims, hid_channels=4096,
        out_channels=embed_dims, num_layers=2, with_bias=False, with_last_bn=False,
        with_avg_pool=False, norm_cfg=dict(type='SyncBN'),
        init_cfg=dict(type='Xavier', layer='Linear', distribution='uniform'))
    cfg = dict(default, **(cfg or {}))
    for name in ('hid_channels', 'out_channels', 'num_layers'):
        cfg[name] = check_int(cfg[name], f'{key}.{name}', minimum=1)
    return build(MODELS, cfg, key)


def cross_view_cosine_loss(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean of ``2 - 2 cos(q_v, k_w)`` over every pair of different views v != w and the
    batch (for two views, the mean of [q2 vs k1] and [q1 vs k2]).

    Args:
        q: (V, B, D) the student's predictions, one per view.
        k: (V, B, D) the teacher's projections, one per view.
    """
    num_views, batch = q.shape[:2]
    q = F.normalize(q.float(), dim=-1)  # (V, B, D), fp32 under autocast too
    k = F.normalize(k.float(), dim=-1)
    # products and sums stay fp32 under autocast (a matmul or einsum would not)
    cos = (q[:, None] * k[None]).sum(-1)  # (V, V, B): student view v, teacher view w
    other = 1 - torch.eye(num_views, device=q.device)  # (V, V), 1 where v != w
    # a weighted sum, not boolean indexing: no data-dependent shape, no device sync
    return ((2 - 2 * cos) * other[:, :, None]).sum() / (num_views * (num_views - 1) * batch)


@MODELS.register_module()
class LUTSupervision(BaseSupervision):
    """LUT's broader-contextualization loss L_BC (the module docstring's formula).

    The algorithm masks two views of each image with disjoint visible sets and encodes
    them in one batched pass; the EMA teacher (backbone and this component's projector)
    encodes both views unmasked in another. Then::

        q_v = predictor(projector(mean of view v's K visible tokens))   (B, D)
        k_v = projector_ema(mean of view v's N tokens, teacher)         (B, D), no grad
        L_BC = mean(2 - 2 cos(q_2, k_1), 2 - 2 cos(q_1, k_2))
        loss = weight * L_BC

    Tokens are taken after the encoder's final norm, the cls token excluded. The student's
    projector and predictor run once per view, as in the released code, so that their
    BatchNorm normalises over one view's batch; the teacher's (eval mode) runs once on all.
    Logged as ``loss_<name>`` (``loss_lut`` for a component named ``lut``); MAE's pixel loss
    on view 1 is the algorithm's ``loss_mim``.

    Fine-tuning starts from the student's backbone (``backbone.*`` in the checkpoint), not
    the teacher's copy (``teacher.ema.backbone.*``), as the authors do.

    Args:
        weight (float): w_bc >= 0; the released code's 0.25 for ViT-B (the paper: 1.0 for
            ViT-S).
        projector (dict | str, optional): overrides of the projector's ``NonLinearNeck``
            (defaults in :func:`mlp_head`: 4096 hidden, SyncBN as the released code, which
            mmengine turns into BatchNorm1d when not distributed); ``'identity'`` for none.
        predictor (dict, optional): the same for the predictor.
        embed_dims (int): the encoder width D, filled in by the algorithm.
    """

    needs_teacher = True
    required_views = 2
    teacher_modules = ('projector', )
    algorithm_args = ('embed_dims', )
    tap_layout = 'visible'  # reads MAE's latent of visible tokens

    def __init__(self,
                 weight: float = 0.25,
                 projector: Union[dict, str, None] = None,
                 predictor: Union[dict, str, None] = None,
                 embed_dims: int = 768,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.weight = check_number(weight, 'weight', minimum=0)
        self.projector = mlp_head(projector, embed_dims, 'projector')
        self.predictor = mlp_head(predictor, embed_dims, 'predictor')

    @staticmethod
    def _run(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return head((x, ))[0]  # NonLinearNeck takes and returns a tuple (so does Identity)

    def loss(self, state: MIMState,
             teacher: Dict[str, nn.Module]) -> Dict[str, torch.Tensor]:
        num_views, batch = state.view_latents.shape[:2]
        pooled = state.view_latents[:, :, 1:].mean(dim=2)  # (V, B, 1 + K, C) -> (V, B, C)
        # one call per view: BatchNorm statistics over one view's batch, as released
        q = torch.stack([self._run(self.predictor, self._run(self.projector, p))
                         for p in pooled])  # (V, B, D)
        with torch.no_grad():
            context = state.view_teacher_tokens[:, :, 1:].mean(dim=2)  # (V, B, C)
            k = self._run(teacher['projector'], context.flatten(0, 1))
            k = k.unflatten(0, (num_views, batch))  # (V, B, D)
        return {'loss': self.weight * cross_view_cosine_loss(q, k)}


class _AllReduceSum(torch.autograd.Function):
    """The sum over processes, differentiable: each process's loss reads the sum, so the
    gradient of each process's input is the sum of every process's output gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


@MODELS.register_module('AllReduceBN')
class AllReduceBatchNorm(nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` whose training statistics are those of the batch of
    every process, as LUT's released heads get from ``nn.SyncBatchNorm``.

    torch's ``SyncBatchNorm`` refuses CPU tensors, so a CPU (gloo) run could only use
    per-process statistics, which differ from a 1-process run of the same global batch.
    Here the processes all-reduce the sums of x and the sample count, then the sums of
    (x - mean)^2: two collectives of C + 1 and C numbers, through autograd, so gradients
    flow across processes as in SyncBatchNorm. Without a process group, or in eval mode,
    it is BatchNorm1d.
    Use it as ``norm_cfg=dict(type='AllReduceBN')``.

    Shapes: input (B, C) or (B, C, L); output the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        flat = x.transpose(0, 1).reshape(channels, -1).float()  # (C, B * L), fp32 sums
        count = flat.new_full((1, ), flat.shape[1])  # (1,)
        # two passes, as BatchNorm: the mean first, then the squares about it (E[x^2] -
        # E[x]^2 in one pass loses the variance when |mean| >> std)
        sums = _AllReduceSum.apply(torch.cat([flat.sum(1), count]))  # (C + 1,)
        total = sums[-1]  # samples over all processes
        mean = sums[:channels] / total  # (C,)
        centred = flat - mean[:, None]  # (C, B * L)
        var = _AllReduceSum.apply((centred * centred).sum(1)) / total  # (C,) biased
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * total / (total - 1))
        shape = (1, channels) + (1, ) * (x.dim() - 2)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """As BatchNorm's training step: an exponential (or, with ``momentum=None``,
        cumulative) average of the batch mean and unbiased variance."""
        self.num_batches_tracked += 1
        momentum = (self.momentum if self.momentum is not None else
                    (1 / self.num_batches_tracked).to(self.running_mean))  # no host sync
        self.running_mean.lerp_(mean.to(self.running_mean), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var), momentum)


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


@TRANSFORMS.register_module()
class ContextViewColour(BaseTransform):
    """The context view's colour changes per image, on the CPU, as the released pipeline
    makes them: torchvision's ``ColorJitter`` on a PIL image with probability
    ``jitter_prob`` (mmpretrain's ``torchvision/`` wrapper; mmpretrain's own ColorJitter
    fails on numpy 2 for a negative hue shift), then :class:`ThreeAugment`. The per-image
    counterpart of :class:`ContextViewAugment`, with its arguments (the blur's standard
    deviation is Pillow's radius); the ``lut-cpuaug_*`` configs use it.

    **Required keys:** img (BGR uint8). **Modified keys:** img.
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
        jitter_prob (float): probability of the colour jitter, in [0, 1].
        brightness, contrast, saturation (float): jitter strengths, >= 0.
        hue (float): hue shift bound, in [0, 0.5].
        solarize_thr (float): the solarize threshold on [0, 255] values, in [0, 256].
        blur_sigma (Sequence[float]): (min, max) of the blur's standard deviation, > 0.
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
            ``None`` for none (the CPU pipeline augments the view instead).
        context_view (int): which of the views is the context view (LUT: the second, 1).
        **kwargs: ``SelfSupDataPreprocessor``'s (mean, std, to_rgb, ...).
    """

    def __init__(self, context_augment: Union[dict, None] = None, context_view: int = 1,
                 **kwargs) -> None:
        super().__init__(**kwargs)
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
                                                            bgr=self._channel_conversion)
            data = dict(data, inputs=views)
        return super().forward(data, training)
