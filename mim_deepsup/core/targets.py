"""What the decoders regress besides MAE's pixels, from frozen networks: their features, and
the fp32 cosine loss of feature targets. (Targets computed from the images themselves, HOG
and low-frequency pixels, are in :mod:`.image_targets`.)"""
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmpretrain.models.losses import CosineSimilarityLoss
from mmpretrain.registry import MODELS
from torch import nn

from ..checkpoints.key_maps import is_timm_layout, strip_wrappers, timm_to_mmpretrain
from .validation import check_dict, check_numbers


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
        prefixes (dict, optional): our submodule name -> its key prefix in the checkpoint,
            e.g. ``dict(backbone='visual.', projection='visual_proj.')`` for mmpretrain's
            CLIP; by default each submodule's own name (``backbone.``). Defaults to None.
        key (str): the config key named in error messages. Defaults to 'checkpoint'.
        random_weights (bool): keep the random initialisation instead (tests only): a
            frozen random network's output is no useful target. Defaults to False.
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

    Args:
        in_channels (int): C, the channels of the input tokens.
        out_channels (int): D, the channels of the projected tokens.
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
            Defaults to None.
        checkpoint (str, optional): local weights, in mmpretrain's names (``prefixes`` maps
            our ``backbone`` and ``projection`` to the checkpoint's key prefixes;
            mmpretrain's CLIP: ``visual.``, ``visual_proj.``) or a timm ViT's
            (``blocks.N.*``, e.g. the DINO release; wrappers such as ``module.`` stripped),
            renamed to mmpretrain's ``VisionTransformer`` and loaded into ``backbone``.
            Defaults to None.
        prefixes (dict, optional): our submodule name -> its key prefix in the checkpoint,
            as :class:`FrozenModule`'s; by default each submodule's own name
            (``backbone.``, ``projection.``). Defaults to None.
        mean (Sequence[float]): the mean of the normalisation the frozen network expects,
            three values (ImageNet's by default). Defaults to (123.675, 116.28, 103.53).
        std (Sequence[float]): the std of the normalisation the frozen network expects,
            three values > 0 (ImageNet's by default). Defaults to (58.395, 57.12, 57.375).
        input_mean (Sequence[float]): the mean of the data preprocessor's normalisation of
            the images it receives (ImageNet's by default). Defaults to
            (123.675, 116.28, 103.53).
        input_std (Sequence[float]): the std of the data preprocessor's normalisation of
            the images it receives (ImageNet's by default). Defaults to
            (58.395, 57.12, 57.375).
        random_weights (bool): no checkpoint, random weights (tests only). Defaults to
            False.
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
class FP32CosineSimilarityLoss(CosineSimilarityLoss):
    """``shift - scale * cos(pred, target)`` per token, as :class:`CosineSimilarityLoss`,
    with both inputs cast to fp32 first (docs/mixed_precision.md).

    Under CPU bf16 autocast, ``F.normalize`` and the product sum are not on autocast's fp32
    list, so mmpretrain's loss would compute ``2 - 2 cos`` in bf16: 1.4 % off at a loss of
    0.01 (DeepMIM's CLIP targets agree with the decoders to cos ~0.995). fp16/bf16 keep 8 to
    11 bits of mantissa; ``1 - cos`` near 0 needs more.

    Shapes: pred, target (B, N, C); mask (B, N), 1 = counted; returns a 0-d fp32 loss.

    Args:
        shift_factor (float): ``shift``, as :class:`CosineSimilarityLoss`'s. Defaults to 0.0.
        scale_factor (float): ``scale``, as :class:`CosineSimilarityLoss`'s. Defaults to 1.0.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = mask.float() if mask is not None else None
        return super().forward(pred.float(), target.float(), mask)
