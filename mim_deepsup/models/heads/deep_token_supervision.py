"""DeepMIM on BEiT-v2: intermediate blocks predict the tokenizer's codes of masked patches."""
from collections import OrderedDict
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

        loss_l = w_l * mean over masked patches j of CE(logits_l[j], code_j)

    Only the M masked patches are scored (V is large): their indices are found once per
    step for every head, a host synchronisation that BEiT-v2's own head makes as well.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks; default
            the fractions 1/2, 2/3, 5/6 of depth (ViT-B: 6, 8, 10).
        weights (Sequence[float], optional): w_l >= 0, one per tap; default 1.0 each.
        num_embed (int): V, the tokenizer's codebook size (VQ-KD: 8192), filled in by the
            algorithm from BEiT-v2's head.
        num_layers, embed_dims: the backbone's sizes, filled in by the algorithm.
    """

    algorithm_args = ('num_layers', 'embed_dims', 'num_embed')
    needs_target = True
    tap_layout = 'all'  # BEiT: every position, masked ones holding the mask token

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
        self.weights = per_tap('weights', weights, self.taps, [1.0] * len(self.taps),
                               minimum=0)
        if not isinstance(num_embed, int) or num_embed < 1:
            raise ValueError(f'num_embed: expected the codebook size (int), got {num_embed!r}')
        # named `ln`, so BEiT-v2's paramwise '.ln' rule (no weight decay) applies
        self.heads = ModuleDict({
            f'l{block}': nn.Sequential(OrderedDict(
                ln=nn.LayerNorm(embed_dims, eps=1e-6), fc=nn.Linear(embed_dims, num_embed)))
            for block in self.taps
        })

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        masked = state.mask.flatten().nonzero().squeeze(1)  # (M,) into the B * N patches
        codes = state.target.flatten()[masked]  # (M,) the tokenizer's codes
        losses = {}
        for block, weight in zip(self.taps, self.weights):
            tokens = state.taps[block][:, 1:].flatten(0, 1)[masked]  # (M, C), cls dropped
            logits = self.heads[f'l{block}'](tokens)  # (M, V)
            losses[f'loss_l{block}'] = weight * F.cross_entropy(logits, codes)
        return losses
