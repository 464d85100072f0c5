"""DDAE's dynamic weights on BEiT-v2's token loss."""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.heads import BEiTV2Head
from mmpretrain.registry import MODELS

from ..losses.distance_weighting import DistanceWeighting


@MODELS.register_module()
class DistanceWeightedBEiTV2Head(DistanceWeighting, BEiTV2Head):
    """mmpretrain's :class:`BEiTV2Head` whose cross-entropy over the masked patches is
    weighted by DDAE's distance weights (METHODS.md, DDAE, migration to BEiT-v2; ours)::

        w   = d ** g(depth, t) on the masked patches, mean 1 per image   (B, N)
        ce  = cross-entropy of each masked patch's logits vs its code    (M,)
        loss_i = mean over the M masked patches of w * ce                (), i = 1, 2

    for both of BEiT-v2's terms (the final layer's and the late cls-pretraining layers'),
    from BEiT's block-wise mask (B, h, w) as it is. With g = 0 it is BEiTV2Head's loss.

    Args:
        depth (float): the supervised depth fraction; 1 (the final output).
        schedule (dict, optional): the exponent schedule, default
            :class:`DepthProgressExponent`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'.
        grid (Sequence[int], optional): default: the mask's own (h, w).
        **kwargs: :class:`BEiTV2Head`'s arguments (embed_dims, num_embed, loss).
    """

    def __init__(self, depth: float = 1.0, schedule: Optional[dict] = None,
                 metric: str = 'euclidean', grid: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.setup_weighting(depth=depth, schedule=schedule, metric=metric, grid=grid)

    def loss(self, feats: torch.Tensor, feats_cls_pt: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # one index of the M masked patches among the B * N (one host sync, where
        # BEiTV2Head's boolean indexing costs three)
        index = mask.flatten().nonzero().squeeze(1)  # (M,)
        weights = self.dynamic_weights(mask).flatten()[index]  # (M,)
        target = target.flatten()[index]  # (M,) codes
        logits = self.cls_head(feats.flatten(0, 1)[index])  # (M, num_embed)
        logits_cls_pt = self.cls_head(feats_cls_pt.flatten(0, 1)[index])
        loss_1 = self.loss_module(logits, target, weight=weights)
        loss_2 = self.loss_module(logits_cls_pt, target, weight=weights)
        return loss_1, loss_2
