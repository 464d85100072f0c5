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

Here: :class:`LUTSupervision` (the component: projector, predictor and the loss). Where
the rest is:

- the two-view step (one noise draw, disjoint visible sets, both views in one batched
  student pass and one teacher pass): ``ComposableMAE`` (``mim_deepsup/algorithms/mae.py``)
  with :func:`mim_deepsup.core.view_masking.disjoint_view_masks`;
- the heads' :class:`~mim_deepsup.core.layers.AllReduceBatchNorm` (SyncBN on any device);
- the views' crop and the context view's colours per image on the CPU
  (``mim_deepsup/datasets/transforms/context_view.py``: ``SimpleResizedCrop``,
  ``ThreeAugment``, ``ContextViewColour``), or batched on the device, the configs' default
  (``mim_deepsup/datasets/context_view_augment.py``: ``ContextViewAugment`` applied by
  ``LUTDataPreprocessor``).

Where each choice comes from: the two views and their augmentations, the disjoint masks,
the cross-view cosine loss, the 4096-wide two-layer heads with BatchNorm, the weight 0.25
for ViT-B and the momentum 0.996 -> 1 are the released code's (the paper: weight 1.0 for
ViT-S); running both views in one batched pass is ours (the same losses up to rounding).
"""
from typing import Dict, Union

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from ..core.component import BaseSupervision
from ..core.state import MIMState
from ..core.validation import build, check_int, check_number


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
        q (torch.Tensor): (V, B, D) the student's predictions, one per view.
        k (torch.Tensor): (V, B, D) the teacher's projections, one per view.
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
            ViT-S). Defaults to 0.25.
        projector (dict | str, optional): overrides of the projector's ``NonLinearNeck``
            (defaults in :func:`mlp_head`: 4096 hidden, SyncBN as the released code, which
            mmengine turns into BatchNorm1d when not distributed); ``'identity'`` for none.
            Defaults to None.
        predictor (dict | str, optional): the same for the predictor. Defaults to None.
        embed_dims (int): the encoder width D, filled in by the algorithm.
            Defaults to 768.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None.
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
