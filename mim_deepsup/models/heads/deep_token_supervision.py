"""DeepMIM on BEiT-v2: intermediate blocks predict the tokenizer's codes of masked patches."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import ModuleDict
from mmpretrain.registry import MODELS
from torch import nn

from ..utils import BaseSupervision, MIMState
from .deep_supervision import check_taps, default_taps, per_tap


@MODELS.register_module()
class DeepTokenSupervision(BaseSupervision):
    """Light code-prediction heads on intermediate BEiT blocks (DeepMIM for BEiT-v2).

    METHODS.md, DeepMIM, applied to BEiT-v2's target: each tapped block's raw output
    (B, 1 + N, C) goes through its own light head, LayerNorm -> Linear(C, V) (ours), and
    is trained with cross-entropy against the tokenizer's codes (``state.target``, (B, N),
    the algorithm's VQ-KD output, computed once) on masked patches only::

        loss_l = w_l * sum_j mask_j * CE(logits_l[j], code_j) / sum_j mask_j

    The masked mean is a mask-weighted sum, so the step needs no host synchronisation.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks; default
            the fractions 1/2, 2/3, 5/6 of depth (ViT-B: 6, 8, 10).
        weights (Sequence[float], optional): w_l, one per tap; default 1.0 each.
        num_embed (int): V, the tokenizer's codebook size (VQ-KD: 8192).
        num_layers, embed_dims: the backbone's sizes, filled in by the algorithm.
    """

    backbone_args = ('num_layers', 'embed_dims')
    needs_target = True

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 num_embed: int = 8192,
                 num_layers: int = 12,
                 embed_dims: int = 768,
                 init_cfg: Optional[dict] = None) -> None:
        # BEiT-v2's head initialisation unless the config says otherwise
        super().__init__(init_cfg=init_cfg or dict(
            type='TruncNormal', layer='Linear', std=0.02, bias=0))
        self.taps = check_taps(default_taps(num_layers) if taps is None else taps, num_layers)
        self.required_taps = self.taps
        self.weights = per_tap('weights', weights, self.taps, [1.0] * len(self.taps))
        self.heads = ModuleDict({
            f'l{block}': nn.Sequential(nn.LayerNorm(embed_dims, eps=1e-6),
                                       nn.Linear(embed_dims, num_embed))
            for block in self.taps
        })

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        codes = state.target  # (B, N) long
        mask = state.mask  # (B, N) float, 1 = masked
        losses = {}
        for block, weight in zip(self.taps, self.weights):
            logits = self.heads[f'l{block}'](state.taps[block][:, 1:])  # (B, N, V), no cls
            ce = F.cross_entropy(logits.flatten(0, 1).float(), codes.flatten(),
                                 reduction='none').view_as(mask)  # (B, N)
            losses[f'loss_l{block}'] = weight * (ce * mask).sum() / mask.sum()
        return losses
