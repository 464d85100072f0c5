"""Patch features of a frozen network (e.g. CLIP's image tower) as reconstruction targets."""
from typing import Dict, Optional, Sequence

import torch
from mmpretrain.registry import MODELS
from torch import nn

from ...validation import check_dict, check_numbers
from ..utils import FrozenModule

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

    DeepMIM's CLIP variant (METHODS.md, DeepMIM): the CLIP image tower's tokens after its
    final norm and projection, for every patch, re-normalised with CLIP's mean and std. Used
    as the algorithm's ``target_generator``, so it runs once per step for every decoder.

    Args:
        backbone (dict): a ViT returning ``(B, extra + N, C)`` tokens (mmpretrain's
            ``VisionTransformer`` with ``out_type='raw'``; for CLIP ``pre_norm=True`` and
            QuickGELU). Its patch grid must equal the student's.
        projection (dict, optional): applied to the tokens, e.g. ``TokenProjection``.
        checkpoint (str): local weights; ``prefixes`` maps our ``backbone`` and
            ``projection`` to the checkpoint's key prefixes (mmpretrain's CLIP: ``visual.``,
            ``visual_proj.``).
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
