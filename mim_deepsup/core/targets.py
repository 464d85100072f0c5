"""What the decoders regress besides MAE's pixels: frozen networks' features, HOG,
low-frequency pixels; and the fp32 cosine loss of feature targets."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.models.losses import CosineSimilarityLoss
from mmpretrain.models.selfsup.maskfeat import HOGGenerator
from mmpretrain.registry import MODELS
from torch import nn

from ..checkpoints.key_maps import is_timm_layout, strip_wrappers, timm_to_mmpretrain
from .validation import check_dict, check_int, check_number, check_numbers


class FrozenModule(BaseModule):
    """Base of frozen target networks whose weights come from a local checkpoint file.

    A subclass builds its submodules, then calls :meth:`freeze`. The checkpoint's existence
    is checked when the model is built (a clear error naming ``key``); its weights are
    loaded by :meth:`init_weights`, i.e. after the algorithm's own initialisation (whose
    ``init_cfg`` would otherwise re-initialise them). They are saved in the algorithm's
    checkpoints like any weights, so resuming and ``load_from`` restore them too.

    Args:
        checkpoint (str, optional): local checkpoint file (a state dict, or a dict with
            ``state_dict``). Required unless ``random_weights``.
        random_weights (bool): keep the random initialisation instead (tests only): a
            frozen random network's output is no useful target.
        prefixes (dict, optional): our submodule name -> its key prefix in the checkpoint,
            e.g. ``dict(backbone='visual.', projection='visual_proj.')`` for mmpretrain's
            CLIP; by default each submodule's own name (``backbone.``).
        key (str): the config key named in error messages.
    """

    def __init__(self, checkpoint: Optional[str], prefixes: Optional[Dict[str, str]] = None,
                 key: str = 'checkpoint', random_weights: bool = False) -> None:
        super().__init__()
        if checkpoint is None and not random_weights:
            raise ValueError(f'{key}: required, a local file with the frozen model\'s weights '
                             f'(random_weights=True keeps random weights, for tests only)')
        if checkpoint is not None and random_weights:
            raise ValueError(f'{key}: give a checkpoint or random_weights=True, not both')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{key}: no such checkpoint file {checkpoint!r}; expected '
                                    f'a local file with the frozen model\'s weights')
        self.checkpoint = checkpoint
        self.prefixes = dict(prefixes or {})
        self.key = key

    def convert_state(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The checkpoint's weights in the names ``prefixes`` expects (as they are here)."""
        return state

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'FrozenModule':
        """A frozen network stays in eval mode whatever the algorithm's mode."""
        return super().train(False)

    def init_weights(self) -> None:
        if self.checkpoint is None:
            super().init_weights()
            return
        try:
            ckpt = torch.load(self.checkpoint, map_location='cpu', weights_only=True)
        except Exception as e:  # a pickle that is not weights-only, not a checkpoint, ...
            raise ValueError(f'{self.key}: cannot load {self.checkpoint!r} as a weights-only '
                             f'checkpoint ({type(e).__name__}: {e})') from None
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f'{self.key}: {self.checkpoint!r} holds no state dict')
        state = self.convert_state(state)
        ours = {}
        for name, _ in self.named_children():
            prefix = self.prefixes.get(name, f'{name}.')
            ours.update({f'{name}.{k[len(prefix):]}': v
                         for k, v in state.items() if k.startswith(prefix)})
        missing, _ = self.load_state_dict(ours, strict=False)
        if missing:
            used = {n: self.prefixes.get(n, f'{n}.') for n, _ in self.named_children()}
            raise ValueError(f'{self.key}: {self.checkpoint!r} lacks {len(missing)} weights of '
                             f'{type(self).__name__}, e.g. {missing[:3]} (key prefixes used: '
                             f'{used})')
        self._is_init = True


IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class TokenProjection(nn.Module):
    """``tokens @ proj``: CLIP's image projection, (B, L, C) -> (B, L, D).

    Its one weight is called ``proj`` like mmpretrain's ``CLIPProjection``'s (which is only
    registered when mmpretrain's multimodal extras are installed), so CLIP checkpoints load.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.proj = nn.Parameter(torch.randn(in_channels, out_channels) * in_channels**-0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens @ self.proj


@MODELS.register_module()
class FrozenFeatureTarget(FrozenModule):
    """Every patch token of a frozen ViT on the full, unmasked image, optionally projected.

    DeepMIM's CLIP variant (docs/methods.md, DeepMIM): the CLIP image tower's tokens after its
    final norm and projection, for every patch, re-normalised with CLIP's mean and std. Used
    as the algorithm's ``target_generator``, so it runs once per step for every decoder.

    Args:
        backbone (dict): a ViT returning ``(B, extra + N, C)`` tokens (mmpretrain's
            ``VisionTransformer`` with ``out_type='raw'``; for CLIP ``pre_norm=True`` and
            QuickGELU). Its patch grid must equal the student's.
        projection (dict, optional): applied to the tokens, e.g. ``TokenProjection``.
        checkpoint (str): local weights, in mmpretrain's names (``prefixes`` maps our
            ``backbone`` and ``projection`` to the checkpoint's key prefixes; mmpretrain's
            CLIP: ``visual.``, ``visual_proj.``) or a timm ViT's (``blocks.N.*``, e.g. the
            DINO release; wrappers such as ``module.`` stripped), renamed to mmpretrain's
            ``VisionTransformer`` and loaded into ``backbone``.
        random_weights (bool): no checkpoint, random weights (tests only).
        mean, std (Sequence[float]): the normalisation the frozen network expects, three
            values each (std > 0).
        input_mean, input_std (Sequence[float]): the data preprocessor's normalisation of
            the images it receives (ImageNet's by default).
    """

    def __init__(self,
                 backbone: dict,
                 projection: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 prefixes: Optional[Dict[str, str]] = None,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD,
                 random_weights: bool = False) -> None:
        super().__init__(checkpoint, prefixes, key='model.target_generator.checkpoint',
                         random_weights=random_weights)
        key = 'model.target_generator'
        check_dict(backbone, f'{key}.backbone', 'a ViT config dict', allow_none=False)
        check_dict(projection, f'{key}.projection', "a dict such as dict(type='TokenProjection')")
        for name, values in (('mean', mean), ('input_mean', input_mean)):
            check_numbers(values, f'{key}.{name}', count=3)
        for name, values in (('std', std), ('input_std', input_std)):
            check_numbers(values, f'{key}.{name}', count=3, minimum=0, open_min=True)
        self.backbone = MODELS.build(backbone)
        self.projection = MODELS.build(projection) if projection is not None else None
        # N and D of the (B, N, D) targets, checked against the student by the algorithm
        self.num_patches = self.backbone.patch_resolution[0] * self.backbone.patch_resolution[1]
        self.out_channels = (getattr(self.projection, 'out_channels', None)
                             if self.projection is not None else self.backbone.embed_dims)
        # x_frozen = (x * input_std + input_mean - mean) / std = x * scale + shift, per channel
        mean, std = torch.tensor(mean), torch.tensor(std)
        scale = torch.tensor(input_std) / std
        shift = (torch.tensor(input_mean) - mean) / std
        self.register_buffer('scale', scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer('shift', shift.view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def convert_state(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """A timm ViT's weights renamed to mmpretrain's, under ``backbone``'s prefix."""
        stripped, _ = strip_wrappers(state)
        if not is_timm_layout(stripped):
            return state
        try:
            weights, _ = timm_to_mmpretrain(stripped)
        except ValueError as e:
            raise ValueError(f'{self.key}: {self.checkpoint!r} is a timm ViT: {e}') from None
        prefix = self.prefixes.get('backbone', 'backbone.')
        return {prefix + key: value for key, value in weights.items()}

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) preprocessed images -> (B, N, D) target features per patch."""
        x = images * self.scale + self.shift
        tokens = self.backbone(x)[-1]  # (B, extra + N, C)
        tokens = tokens[:, getattr(self.backbone, 'num_extra_tokens', 1):]  # (B, N, C)
        if self.projection is not None:
            tokens = self.projection(tokens)
            tokens = tokens[-1] if isinstance(tokens, (tuple, list)) else tokens  # (B, N, D)
        return tokens


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
        nbins (int): orientation bins, >= 1.
        pool (int): cell size in pixels, >= 1.
        gaussian_window (int): the Gaussian window's size (0 for none); the image height
            must be a multiple of it.
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
        radius (float): r, in frequency samples, > 0 (PixMIM: 40 at 224 px).
        img_size (int | Sequence[int]): (H, W) of the images, or one side of square ones.
        input_mean, input_std (Sequence[float]): the data preprocessor's normalisation on
            [0, 255] (ImageNet's by default).
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


@MODELS.register_module()
class FP32CosineSimilarityLoss(CosineSimilarityLoss):
    """``shift - scale * cos(pred, target)`` per token, as :class:`CosineSimilarityLoss`,
    with both inputs cast to fp32 first (docs/mixed_precision.md).

    Under CPU bf16 autocast, ``F.normalize`` and the product sum are not on autocast's fp32
    list, so mmpretrain's loss would compute ``2 - 2 cos`` in bf16: 1.4 % off at a loss of
    0.01 (DeepMIM's CLIP targets agree with the decoders to cos ~0.995). fp16/bf16 keep 8 to
    11 bits of mantissa; ``1 - cos`` near 0 needs more.

    Shapes: pred, target (B, N, C); mask (B, N), 1 = counted; returns a 0-d fp32 loss.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = mask.float() if mask is not None else None
        return super().forward(pred.float(), target.float(), mask)
