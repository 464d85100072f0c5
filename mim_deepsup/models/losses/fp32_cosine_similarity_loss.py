"""mmpretrain's cosine-similarity loss, computed in fp32 under mixed precision."""
from typing import Optional

import torch
from mmpretrain.models.losses import CosineSimilarityLoss
from mmpretrain.registry import MODELS


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
