"""DDAE's pixel loss: masked patches weighted by their distance to the visible ones."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS

from ...validation import check_bool, check_choice, check_int
from .distance_weighting import DistanceWeighting


@MODELS.register_module()
class DistanceWeightedPixelLoss(DistanceWeighting, PixelReconstructionLoss):
    """mmpretrain's :class:`PixelReconstructionLoss` with DDAE's dynamic weights
    (METHODS.md, DDAE; ours). Same call, ``loss(pred, target, mask)``, so it drops into
    ``MAEPretrainHead(loss=...)``::

        d_j  = distance of masked patch j to the nearest visible patch    (B, N)
        w_j  = d_j ** g(depth, t), renormalised to mean 1 per image       (B, N)
        loss = sum_j w_j * err_j / sum_j mask_j / channel                 ()

    where ``err_j`` is the per-patch error of the parent class. With g = 0, ``w`` is the
    mask and the loss is the parent's exactly. t comes from :class:`TrainingProgressHook`
    through :meth:`set_progress`.

    Args:
        criterion (str): 'L1' or 'L2', as the parent.
        channel (int, optional): as the parent.
        depth (float): the supervised block / number of blocks; 1 for the final output.
        schedule (dict): the exponent schedule, default :class:`DepthProgressExponent`.
        metric (str): 'euclidean', 'manhattan' or 'chebyshev'.
        grid (Sequence[int], optional): the patch grid (h, w); default square.
    """

    def __init__(self, criterion: str = 'L2', channel: Optional[int] = None,
                 depth: float = 1.0, schedule: Optional[dict] = None,
                 metric: str = 'euclidean', grid: Optional[Sequence[int]] = None) -> None:
        name = type(self).__name__
        check_choice(criterion, f'{name}.criterion', ('L1', 'L2'))
        if channel is not None:
            check_int(channel, f'{name}.channel', minimum=1)
        super().__init__(criterion=criterion, channel=channel)
        self.setup_weighting(depth=depth, schedule=schedule, metric=metric, grid=grid)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                distances: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``distances`` (B, N): the mask's distance map, if the caller computed it already
        (with this loss's metric); otherwise it is computed from ``mask``."""
        if mask is None:
            return super().forward(pred, target, None)
        loss = self.penalty(pred, target)  # (B, N, D) or (B, N)
        if loss.dim() == 3:
            loss = loss.mean(dim=-1)  # (B, N)
        weights = self.dynamic_weights(mask, distances)  # (B, N)
        return (loss * weights).sum() / mask.sum() / self.channel


@MODELS.register_module()
class DistanceWeightedFeatureLoss(DistanceWeightedPixelLoss):
    """:class:`DistanceWeightedPixelLoss` for feature targets (METHODS.md, DDAE: the
    intermediate decoders regress the EMA teacher's patch features, layer-normalised; ours).

    The target (B, N, C) is layer-normalised over C without affine parameters (as the
    pixel head's norm_pix normalises each patch) before the weighted L2 (or L1) error.

    Args:
        normalize_target (bool): layer-normalise the target.
        **kwargs: :class:`DistanceWeightedPixelLoss`'s arguments.
    """

    def __init__(self, normalize_target: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.normalize_target = check_bool(normalize_target,
                                           f'{type(self).__name__}.normalize_target')

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                distances: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.normalize_target:
            target = F.layer_norm(target, target.shape[-1:], eps=1e-6)  # (B, N, C)
        return super().forward(pred, target, mask, distances)
