"""DDAE: deep dynamic supervision of intermediate blocks by the EMA teacher's features."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import ModuleDict
from mmpretrain.registry import MODELS
from torch import nn

from ...validation import check_dict
from ..utils import BaseSupervision, MIMState, patch_distances
from ..utils.distance_map import check_metric
from .deep_supervision import LIGHT_DECODER, check_taps, default_taps, per_tap

# ours: blocks 4 and 8 of ViT-B's 12 (METHODS.md, DDAE)
DEFAULT_TAP_FRACTIONS = (1 / 3, 2 / 3)


@MODELS.register_module()
class DeepDynamicSupervision(BaseSupervision):
    """Light decoders on intermediate blocks, each regressing the EMA teacher's patch
    features with DDAE's distance weights (METHODS.md, DDAE; every constant ours).

    For every tapped block l, a light predictor reads the block's raw output and predicts
    a C-wide feature for every patch. On MAE (taps of the visible tokens) it is a light MAE
    decoder (:class:`AuxiliaryDecoders`); on BEiT (taps of every position, mask tokens
    included) a LayerNorm + Linear(C, C) per tap (ours)::

        target   = LN(teacher's final-normed patch tokens of the unmasked image)  (B, N, C)
        loss_l   = w_l * sum_j d_j ** g(l / L, t) err_lj / sum_j mask_j          ()

    with the distance weights renormalised per image (:class:`DistanceWeightedFeatureLoss`)
    and the distance map computed once per step for all taps. The final decoder is the
    algorithm's own; give its head a :class:`DistanceWeightedPixelLoss` for DDAE's dynamic
    pixel loss. Logged as ``loss_l4``, ``loss_l8`` (prefixed with the component's name).

    Args:
        taps (Sequence[int], optional): intermediate blocks (from 1); default 1/3 and 2/3
            of the depth (ViT-B: 4 and 8).
        weights (Sequence[float], optional): w_l >= 0, one per tap; default 1.0 each.
        decoder (dict, optional): the MAE decoders' shape; default light, 256-d x 2 blocks
            x 8 heads.
        loss (dict, optional): overrides of each tap's :class:`DistanceWeightedFeatureLoss`
            (criterion, schedule, normalize_target); its depth (l / L), metric and grid
            are this component's.
        metric (str): the distance metric, shared by every tap.
        num_layers, embed_dims, patch_size, num_patches, patch_grid, layout: filled in
            by the algorithm.
    """

    needs_teacher = True
    algorithm_args = ('num_layers', 'embed_dims', 'patch_size', 'num_patches', 'patch_grid',
                      'layout')
    tap_layout = None  # MAE ('visible') and BEiT ('all') alike

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 decoder: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 metric: str = 'euclidean',
                 num_layers: int = 12,
                 embed_dims: int = 768,
                 patch_size: int = 16,
                 num_patches: int = 196,
                 patch_grid: Tuple[int, int] = (14, 14),
                 layout: str = 'visible',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        default = default_taps(num_layers, DEFAULT_TAP_FRACTIONS)
        self.taps = check_taps(default if taps is None else taps, num_layers)
        self.required_taps = self.taps
        self.weights = per_tap('weights', weights, self.taps, [1.0] * len(self.taps),
                               minimum=0)
        self.grid = tuple(patch_grid)
        self.metric = check_metric(metric)
        check_dict(decoder, 'decoder', 'a dict of AuxiliaryDecoders arguments')
        check_dict(loss, 'loss', 'a dict of DistanceWeightedFeatureLoss arguments')
        shared = sorted({'depth', 'metric', 'grid'} & set(loss or {}))
        if shared:
            raise ValueError(f'loss.{shared[0]}: set by DeepDynamicSupervision for every tap '
                             f'(depth = tap / num_layers, metric = its metric argument, grid '
                             f'= the backbone\'s patch grid); remove it from loss')
        if layout not in ('visible', 'all'):
            raise ValueError(f"layout: expected 'visible' (MAE) or 'all' (BEiT), got "
                             f'{layout!r}')
        self.layout = layout
        if layout == 'visible':
            try:
                self.decoders = MODELS.build(dict(
                    type='AuxiliaryDecoders', taps=self.taps, num_patches=num_patches,
                    patch_size=patch_size, embed_dim=embed_dims, predict_feature_dim=embed_dims,
                    **dict(LIGHT_DECODER, **(decoder or {}))))
            except (TypeError, ValueError) as e:
                raise type(e)(f'decoder: {e}') from e
        else:
            if decoder is not None:
                raise ValueError('decoder: BEiT taps are read by LayerNorm + Linear heads, '
                                 'which have no decoder shape to set')
            self.heads = ModuleDict({
                f'l{block}': nn.Sequential(OrderedDict(
                    ln=nn.LayerNorm(embed_dims, eps=1e-6),
                    fc=nn.Linear(embed_dims, embed_dims)))
                for block in self.taps
            })
        self.losses = ModuleDict()
        for block in self.taps:
            cfg = dict(type='DistanceWeightedFeatureLoss', **(loss or {}))
            cfg.update(depth=block / num_layers, metric=metric, grid=self.grid)
            try:
                self.losses[f'l{block}'] = MODELS.build(cfg)
            except (TypeError, ValueError) as e:
                raise type(e)(f'loss (tap {block}): {e}') from e

    def predict(self, state: MIMState) -> Dict[int, torch.Tensor]:
        """block -> (B, N, C) predicted features of every patch."""
        if self.layout == 'visible':
            return self.decoders(state.taps, state.ids_restore)
        # BEiT: (B, 1 + N, C) taps of every position, cls dropped
        return {b: self.heads[f'l{b}'](state.taps[b][:, 1:]) for b in self.taps}

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        preds = self.predict(state)  # block -> (B, N, C)
        target = state.teacher_tokens[:, 1:]  # (B, N, C), no gradient, cls dropped
        distances = patch_distances(state.mask, self.grid, self.metric)  # (B, N), once
        return {
            f'loss_l{block}': weight * self.losses[f'l{block}'](
                preds[block], target, state.mask, distances)
            for block, weight in zip(self.taps, self.weights)
        }
