"""DeepMIM: deep supervision of intermediate encoder blocks (docs/methods.md, DeepMIM).

For every tapped block l < L of the encoder, a decoder of its own reads that block's raw
output and predicts every patch; its loss is the final decoder's criterion over the
masked patches::

    taps_l  = the raw output of block l on the visible tokens      (B, 1 + K, C)
    pred_l  = decoder_l(taps_l, ids_restore)                         (B, N, D)
    target_l = target                        (pixels or features)   (B, N, D)
             = a_l * target + (1 - a_l) * frozen_mae(masked image)  (hybrid target)
    loss_l  = w_l * criterion(pred_l, target_l, mask)  masked patches (B, N) only
    loss    = loss_mim + sum_l loss_l

MAE (:class:`DeepMIMSupervision`): each decoder is an MAE decoder
(:class:`DeepMIMDecoders`), the targets are MAE's norm_pix pixels, a frozen network's
features (the algorithm's ``target_generator``, e.g. CLIP) or the hybrid target
(:class:`DeepMIMHybridTarget`). BEiT-v2 (:class:`DeepMIMTokenSupervision`): a light
LayerNorm + Linear head per tap predicts the tokenizer's codes, with cross-entropy.
MaskFeat (:class:`DeepMIMFeatureHeads`): a LayerNorm + Linear head per tap predicts the
HOG target. SimMIM's Swin (:class:`DeepMIMSwinSupervision`): SimMIM's linear decoder per
tap at its stage's resolution.

Where each choice comes from: taps at 1/2, 2/3 and 5/6 of the depth and decoders shaped
like MAE's (512-d x 8 blocks x 16 heads) with one shared position embedding are the
released code's; the light decoders (256-d x 2 x 8), the hybrid mixing a_l = l / L and
the BEiT-v2 code heads are ours.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.model import BaseModule, ModuleDict
from mmpretrain.models import MAEPretrainDecoder
from mmpretrain.registry import MODELS
from torch import nn

from ..core.component import BaseSupervision, check_taps, default_taps, per_tap
from ..core.head_loss import call_head_loss, pixel_target
from ..core.state import MIMState
from ..core.targets import FrozenModule
from ..core.validation import build, check_dict, check_file, check_int, check_number

# the fractions of depth the released code taps on ViT-B (blocks 6, 8, 10 of 12)
DEFAULT_TAP_FRACTIONS = (1 / 2, 2 / 3, 5 / 6)
# ours: narrower and shallower auxiliary decoders for less overhead
LIGHT_DECODER = dict(decoder_embed_dim=256, decoder_depth=2, decoder_num_heads=8)


@MODELS.register_module()
class DeepMIMDecoders(BaseModule):
    """One MAE decoder (mmpretrain's :class:`MAEPretrainDecoder`) per tapped block.

    Each decoder has its own linear embed, mask token, transformer blocks, norm and
    prediction layer; the fixed sin-cos decoder position embedding is one tensor shared by
    all of them (the released code: "only the position embedding is shared").

    Args:
        taps (Sequence[int]): encoder blocks (from 1) whose outputs are decoded.
        num_patches (int): N, patches per image. Defaults to 196.
        patch_size (int): p; the prediction has p * p * in_chans values per patch unless
            ``predict_feature_dim`` is given. Defaults to 16.
        embed_dim (int): C, the encoder's width. Defaults to 768.
        decoder_embed_dim (int): each decoder's width (part of its shape).
            Defaults to 512.
        decoder_depth (int): each decoder's number of transformer blocks (part of its
            shape). Defaults to 8.
        decoder_num_heads (int): each decoder's attention heads (part of its shape); they
            must divide ``decoder_embed_dim``. Defaults to 16.
        mlp_ratio (float): each decoder's MLP hidden width over ``decoder_embed_dim``
            (part of its shape). Defaults to 4.0.
        predict_feature_dim (int, optional): D, the prediction width for feature targets.
            Defaults to None.
        in_chans (int): image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None.
    """

    def __init__(self,
                 taps: Sequence[int],
                 num_patches: int = 196,
                 patch_size: int = 16,
                 embed_dim: int = 768,
                 decoder_embed_dim: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 predict_feature_dim: Optional[int] = None,
                 in_chans: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        # config checks
        check_int(decoder_embed_dim, 'decoder_embed_dim', minimum=1)
        check_int(decoder_depth, 'decoder_depth', minimum=0)
        check_int(decoder_num_heads, 'decoder_num_heads', minimum=1)
        if decoder_embed_dim % decoder_num_heads:
            raise ValueError(f'decoder_num_heads: expected a divisor of decoder_embed_dim '
                             f'({decoder_embed_dim}), got {decoder_num_heads}')
        check_number(mlp_ratio, 'mlp_ratio', minimum=0, open_min=True)
        if predict_feature_dim is not None:
            check_int(predict_feature_dim, 'predict_feature_dim', minimum=1)

        self.taps = tuple(taps)
        # mmengine's ModuleDict: init_weights reaches the decoders inside
        self.decoders = ModuleDict({
            f'l{block}': MAEPretrainDecoder(
                num_patches=num_patches, patch_size=patch_size, in_chans=in_chans,
                embed_dim=embed_dim, decoder_embed_dim=decoder_embed_dim,
                decoder_depth=decoder_depth, decoder_num_heads=decoder_num_heads,
                mlp_ratio=mlp_ratio, predict_feature_dim=predict_feature_dim)
            for block in self.taps
        })
        # one fixed (not learned) position embedding, (1, 1 + N, decoder_embed_dim)
        first, *others = self.decoders.values()
        for decoder in others:
            decoder.decoder_pos_embed = first.decoder_pos_embed

    @property
    def out_features(self) -> int:
        """D, the values each decoder predicts per patch."""
        return next(iter(self.decoders.values())).decoder_pred.out_features

    def forward(self, taps: Dict[int, torch.Tensor],
                ids_restore: torch.Tensor) -> Dict[int, torch.Tensor]:
        """block -> (B, N, D) prediction of every patch, from block -> (B, 1 + K, C) taps
        of the visible tokens and MAE's (B, N) un-shuffling permutation."""
        return {block: self.decoders[f'l{block}'](taps[block], ids_restore)
                for block in self.taps}


@MODELS.register_module()
class DeepMIMHybridTarget(FrozenModule):
    """A frozen, already pretrained MAE's reconstruction of the student's masked images,
    which DeepMIM's hybrid target mixes with the raw pixels.

    The frozen encoder sees exactly the student's visible patches (the student's
    ``ids_restore`` replayed through :meth:`TappedMAEViT.forward_masked`), and its decoder
    predicts every patch. The frozen MAE must be trained with the student's ``norm_pix``,
    so that its output is in the raw target's space (checked by the component).

    Args:
        model (str | dict): the frozen MAE's model config (its ``backbone`` and ``neck``
            are built), or the path of a config file holding it (``mmpretrain::`` allowed).
        checkpoint (str, optional): its weights (``backbone.*``, ``neck.*`` keys, as
            mmpretrain's MAE and our checkpoints have them). Defaults to None.
        random_weights (bool): no checkpoint, random weights (tests only).
            Defaults to False.
    """

    def __init__(self, model: Union[str, dict], checkpoint: Optional[str] = None,
                 random_weights: bool = False) -> None:
        super().__init__(checkpoint, key='checkpoint', random_weights=random_weights)
        # config checks
        if isinstance(model, str):  # a config file, or a package's ('mmpretrain::...')
            if '::' not in model:
                check_file(model, 'model', 'config file')
            model = (get_config(model) if '::' in model else Config.fromfile(model)).model
        check_dict(model, 'model', "an MAE model config (a dict with 'backbone' and 'neck') "
                   "or the path of a config file", allow_none=False)
        if 'backbone' not in model or 'neck' not in model:
            raise ValueError(f'model: expected an MAE model config with a backbone and a '
                             f'neck (its decoder), got keys {sorted(model)}')
        backbone = dict(model['backbone'])
        if backbone.get('type') not in ('MAEViT', 'mmpretrain.MAEViT', 'TappedMAEViT'):
            raise TypeError(f'model.backbone: {backbone.get("type")!r} cannot replay the '
                            f'student\'s mask; expected an MAEViT')

        # whether its reconstruction is in norm_pix space (MAEPretrainHead's default: no)
        self.norm_pix = bool(model.get('head', {}).get('norm_pix', False))
        self.backbone = MODELS.build(dict(backbone, type='TappedMAEViT'))  # MAEViT's weights
        self.neck = MODELS.build(model['neck'])
        self.freeze()

    @torch.no_grad()
    def forward(self, state: MIMState) -> torch.Tensor:
        """(B, N, p * p * 3): the frozen MAE's prediction of every patch."""
        num_visible = state.latent.shape[1] - 1  # K, from shapes (no host sync)
        (latent, _, ids_restore), _ = self.backbone.forward_masked(
            state.inputs, state.ids_restore, num_visible)
        return self.neck(latent, ids_restore)  # (B, N, p * p * 3)


@MODELS.register_module()
class DeepMIMSupervision(BaseSupervision):
    """DeepMIM on MAE: auxiliary decoders on intermediate blocks, each with a masked-patch
    loss (the module docstring's formula), logged as ``loss_l6``, ``loss_l8``, ...
    (prefixed with the component's name by the algorithm).

    Targets (``target_l``):

    - pixels (default): ``head`` is mmpretrain's ``MAEPretrainHead``; its norm_pix target
      is computed once per step and shared with the final decoder;
    - features: ``head`` has no ``construct_target`` (e.g. ``MIMHead`` with
      ``FP32CosineSimilarityLoss(2, 2)``, i.e. 2 - 2 cos); the target is the algorithm's
      ``target_generator`` output ``state.target``, shared with the final decoder;
    - hybrid pixels: with ``hybrid`` (a :class:`DeepMIMHybridTarget`), run once per step,
      ``target_l = a_l * pixels + (1 - a_l) * frozen_reconstruction``.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks (from 1,
            below the last). Defaults to None, i.e. 1/2, 2/3 and 5/6 of the depth (ViT-B:
            6, 8, 10; ViT-L: 12, 16, 20).
        weights (Sequence[float], optional): w_l >= 0, one per tap. Defaults to None,
            i.e. 1.0 each.
        decoder (dict | str, optional): every decoder's shape (:class:`DeepMIMDecoders`
            arguments); ``'light'`` or ``light=True`` in the dict starts from 256-d x 2
            blocks x 8 heads, the dict's other keys still apply. Defaults to None, i.e.
            512-d x 8 blocks x 16 heads.
        head (dict, optional): the criterion (and pixel target) as an mmpretrain MIM head.
            Defaults to None, i.e. the algorithm's own head (filled in by the algorithm),
            so every decoder has the same target.
        hybrid (dict, optional): a :class:`DeepMIMHybridTarget` config. Defaults to None,
            i.e. no hybrid target.
        hybrid_alphas (Sequence[float], optional): a_l in [0, 1], one per tap.
            Defaults to None, i.e. a_l = l / num_layers.
        num_layers (int): the backbone's number of blocks L, filled in by the algorithm.
            Defaults to 12.
        embed_dims (int): the backbone's width C, filled in by the algorithm.
            Defaults to 768.
        patch_size (int): the backbone's patch size p, filled in by the algorithm.
            Defaults to 16.
        num_patches (int): the backbone's number of patches N, filled in by the algorithm.
            Defaults to 196.
        target_channels (int, optional): the width of the target generator's output
            (None if unknown), filled in by the algorithm. Defaults to None.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None.
    """

    algorithm_args = ('num_layers', 'embed_dims', 'patch_size', 'num_patches', 'head',
                      'target_channels')
    tap_layout = 'visible'  # MAE decoders: visible tokens and ids_restore

    @property
    def needs_target(self) -> bool:
        """Whether it reads ``state.target``: when its head regresses the target
        generator's features rather than pixels."""
        return not self.pixel_target

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 decoder: Union[dict, str, None] = None,
                 head: Optional[dict] = None,
                 hybrid: Optional[dict] = None,
                 hybrid_alphas: Optional[Sequence[float]] = None,
                 num_layers: int = 12,
                 embed_dims: int = 768,
                 patch_size: int = 16,
                 num_patches: int = 196,
                 target_channels: Optional[int] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        # config checks
        taps = check_taps(default_taps(num_layers, DEFAULT_TAP_FRACTIONS) if taps is None
                          else taps, num_layers)
        weights = per_tap(weights, taps, [1.0] * len(taps), 'weights', minimum=0)
        decoder = dict(light=True) if decoder == 'light' else decoder
        decoder = dict(check_dict(decoder, 'decoder', "a dict of DeepMIMDecoders arguments "
                                  "or 'light'") or {})
        check_dict(head, 'head', "an mmpretrain MIM head such as dict(type='MAEPretrainHead')")
        check_dict(hybrid, 'hybrid', 'a dict of DeepMIMHybridTarget arguments')
        if hybrid is None and hybrid_alphas is not None:
            raise ValueError('hybrid_alphas: given without hybrid (the frozen MAE whose '
                             'reconstruction they mix in)')
        alphas = per_tap(hybrid_alphas, taps, [block / num_layers for block in taps],
                         'hybrid_alphas', minimum=0, maximum=1)

        self.taps = self.required_taps = taps
        self.weights, self.hybrid_alphas = weights, alphas
        shape = LIGHT_DECODER if decoder.pop('light', False) else {}
        self.decoders = build(MODELS, dict(
            dict(type='DeepMIMDecoders', num_patches=num_patches, patch_size=patch_size,
                 embed_dim=embed_dims, **shape), **decoder, taps=taps), 'decoder')
        self.head = build(MODELS, head or dict(
            type='MAEPretrainHead', norm_pix=True, patch_size=patch_size,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')), 'head')
        self.pixel_target = hasattr(self.head, 'construct_target')
        self.hybrid = build(MODELS, hybrid, 'hybrid') if hybrid is not None else None

        # config checks that need the built parts
        expected = patch_size**2 * 3 if self.pixel_target else target_channels
        if expected is not None and self.decoders.out_features != expected:
            raise ValueError(f'decoder.predict_feature_dim: the auxiliary decoders predict '
                             f'{self.decoders.out_features} values per patch, the target '
                             f'has {expected}')
        if self.hybrid is not None and not self.pixel_target:
            raise ValueError('hybrid: the hybrid target mixes pixels; head must be a pixel '
                             'head (MAEPretrainHead)')
        if self.hybrid is not None and self.hybrid.norm_pix != self.head.norm_pix:
            raise ValueError(f'hybrid.model: the frozen MAE\'s head has norm_pix='
                             f'{self.hybrid.norm_pix}, this target norm_pix='
                             f'{self.head.norm_pix}: its reconstruction would not be in '
                             f'the raw target\'s space')

    def loss(self, state: MIMState, teacher) -> Dict[str, torch.Tensor]:
        preds = self.decoders(state.taps, state.ids_restore)  # block -> (B, N, D)
        # (B, N, p * p * 3) norm_pix patches, or (B, N, D) the target generator's output
        target = pixel_target(state, self.head) if self.pixel_target else state.target
        recon = self.hybrid(state) if self.hybrid is not None else None  # (B, N, p * p * 3)
        losses = {}
        for block, weight, alpha in zip(self.taps, self.weights, self.hybrid_alphas):
            # hybrid: (B, N, p * p * 3) = a_l * raw + (1 - a_l) * reconstruction
            target_l = target if recon is None else alpha * target + (1 - alpha) * recon
            # masked patches only (mask (B, N), 1 = removed)
            loss = self.head.loss_module(preds[block], target_l, state.mask)
            losses[f'loss_l{block}'] = weight * loss
        return losses


@MODELS.register_module()
class DeepMIMTokenSupervision(BaseSupervision):
    """DeepMIM on BEiT-v2: light code-prediction heads on intermediate blocks (ours).

    Each tapped block's raw output (B, 1 + N, C) goes through its own head, LayerNorm ->
    Linear(C, V), trained with cross-entropy against the tokenizer's codes
    (``state.target``, (B, N), computed once by the algorithm) on masked patches only::

        loss_l = w_l * mean over masked patches j of CE(logits_l[j], code_j)

    Only the M masked patches are scored (V is large): their indices are found once per
    step for every head, a host synchronisation that BEiT-v2's own head makes as well.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks.
            Defaults to None, i.e. 1/2, 2/3, 5/6 of the depth (ViT-B: 6, 8, 10).
        weights (Sequence[float], optional): w_l >= 0, one per tap. Defaults to None,
            i.e. 1.0 each.
        num_embed (int): V, the tokenizer's codebook size (VQ-KD: 8192), filled in by the
            algorithm from BEiT-v2's head. Defaults to 8192.
        num_layers (int): the backbone's number of blocks L, filled in by the algorithm.
            Defaults to 12.
        embed_dims (int): the backbone's width C, filled in by the algorithm.
            Defaults to 768.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None,
            i.e. BEiT-v2's head initialisation (truncated normal, std 0.02, bias 0, on the
            Linear layers).
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
        # config checks
        taps = check_taps(default_taps(num_layers, DEFAULT_TAP_FRACTIONS) if taps is None
                          else taps, num_layers)
        self.weights = per_tap(weights, taps, [1.0] * len(taps), 'weights', minimum=0)
        check_int(num_embed, 'num_embed', minimum=1)

        self.taps = self.required_taps = taps
        # named `ln`, so BEiT-v2's paramwise '.ln' rule (no weight decay) applies
        self.heads = ModuleDict({
            f'l{block}': nn.Sequential(OrderedDict(
                ln=nn.LayerNorm(embed_dims, eps=1e-6), fc=nn.Linear(embed_dims, num_embed)))
            for block in self.taps
        })

    def loss(self, state: MIMState, teacher) -> Dict[str, torch.Tensor]:
        masked = state.mask.flatten().nonzero().squeeze(1)  # (M,) into the B * N patches
        codes = state.target.flatten()[masked]  # (M,) the tokenizer's codes
        losses = {}
        for block, weight in zip(self.taps, self.weights):
            tokens = state.taps[block][:, 1:].flatten(0, 1)[masked]  # (M, C), cls dropped
            logits = self.heads[f'l{block}'](tokens)  # (M, V)
            losses[f'loss_l{block}'] = weight * F.cross_entropy(logits, codes)
        return losses


@MODELS.register_module()
class DeepMIMFeatureHeads(BaseSupervision):
    """DeepMIM on MaskFeat: a LayerNorm + Linear head per tapped block predicting the
    target features (HOG) of every patch, with the algorithm's criterion (ours)::

        pred_l = Linear(LN(taps_l[:, 1:]))                      (B, N, D)
        loss_l = w_l * head.loss(pred_l, target, mask)           masked patches only

    MaskFeat's taps hold every position (masked ones started as the mask token), so a head
    as light as MaskFeat's own linear neck reads them; the target is the algorithm's
    ``state.target`` (MaskFeat: (B, N, 108) HOG), computed once per step.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks.
            Defaults to None, i.e. 1/2, 2/3, 5/6 of the depth (ViT-B: 6, 8, 10).
        weights (Sequence[float], optional): w_l >= 0, one per tap. Defaults to None,
            i.e. 1.0 each.
        head (dict, optional): the criterion as an mmpretrain ``MIMHead``. Defaults to
            None, i.e. the algorithm's (filled in by the algorithm).
        num_layers (int): the backbone's number of blocks L, filled in by the algorithm.
            Defaults to 12.
        embed_dims (int): the backbone's width C, filled in by the algorithm.
            Defaults to 768.
        target_channels (int, optional): D, the width of the algorithm's neck's
            prediction, filled in by the algorithm. Defaults to None.
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None,
            i.e. MaskFeat's neck initialisation (truncated normal, std 0.02, bias 0, on the
            Linear layers).
    """

    algorithm_args = ('num_layers', 'embed_dims', 'target_channels', 'head')
    needs_target = True
    tap_layout = 'all'  # every position, masked ones holding the mask token

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 head: Optional[dict] = None,
                 num_layers: int = 12,
                 embed_dims: int = 768,
                 target_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # MaskFeat's neck initialisation unless the config says otherwise
        super().__init__(init_cfg=init_cfg or dict(
            type='TruncNormal', layer='Linear', std=0.02, bias=0))
        # config checks
        taps = check_taps(default_taps(num_layers, DEFAULT_TAP_FRACTIONS) if taps is None
                          else taps, num_layers)
        self.weights = per_tap(weights, taps, [1.0] * len(taps), 'weights', minimum=0)
        check_int(target_channels, 'target_channels', minimum=1)
        check_dict(head, 'head', "a MIMHead config such as dict(type='MIMHead', loss=...)",
                   allow_none=False)

        self.taps = self.required_taps = taps
        self.head = build(MODELS, head, 'head')
        self.heads = ModuleDict({
            f'l{block}': nn.Sequential(OrderedDict(
                ln=nn.LayerNorm(embed_dims, eps=1e-6),
                fc=nn.Linear(embed_dims, target_channels)))
            for block in taps
        })

    def loss(self, state: MIMState, teacher) -> Dict[str, torch.Tensor]:
        loss_module = self.head.loss_module
        return {
            f'loss_l{block}': weight * call_head_loss(
                loss_module, loss_module, self.heads[f'l{block}'](state.taps[block][:, 1:]),
                state.target, state.mask, state=state)
            for block, weight in zip(self.taps, self.weights)
        }


@MODELS.register_module()
class DeepMIMSwinSupervision(BaseSupervision):
    """DeepMIM on SimMIM's Swin: a light prediction head per tapped block, at the block's
    stage resolution, trained with SimMIM's own loss on the masked pixels (ours)::

        x_l    = LN(taps_l) as a map                          (B, C_s, H / r_s, W / r_s)
        rec_l  = PixelShuffle_{r_s}(Conv1x1(x_l))              (B, 3, H, W)
        loss_l = w_l * head.loss(rec_l, images, mask)          SimMIM's L1, masked pixels

    r_s and C_s are the stride and width of the block's stage (Swin-B, 192 px: blocks 12,
    16 and 20 of 24 are in stage 3, r = 16, C = 512). The head is SimMIM's linear decoder
    (mmpretrain's ``SimMIMLinearDecoder``) at that stride, after a LayerNorm as SimMIM's
    final stage has; the criterion is the algorithm's head.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks (from 1,
            across the stages). Defaults to None, i.e. 1/2, 2/3, 5/6 of the depth,
            DeepMIM's fractions.
        weights (Sequence[float], optional): w_l >= 0, one per tap. Defaults to None,
            i.e. 1.0 each.
        head (dict, optional): the criterion as an mmpretrain ``SimMIMHead``. Defaults to
            None, i.e. the algorithm's own head (filled in by the algorithm).
        num_layers (int): the backbone's number of blocks, over all stages, filled in by
            the algorithm. Defaults to 24.
        block_channels (Sequence[int]): the backbone's C_s of each block's stage, one per
            block, filled in by the algorithm. Defaults to ().
        block_strides (Sequence[int]): the backbone's r_s (in pixels) of each block's
            stage, one per block, filled in by the algorithm. Defaults to ().
        patch_grid (Sequence[int]): the backbone's (h, w) patch grid of its first stage,
            filled in by the algorithm. Defaults to (48, 48).
        init_cfg (dict, optional): mmengine's initialisation config. Defaults to None.
    """

    algorithm_args = ('num_layers', 'block_channels', 'block_strides', 'patch_grid', 'head')
    tap_layout = 'swin'  # SimMIM's Swin: every position, per stage

    def __init__(self,
                 taps: Optional[Sequence[int]] = None,
                 weights: Optional[Sequence[float]] = None,
                 head: Optional[dict] = None,
                 num_layers: int = 24,
                 block_channels: Sequence[int] = (),
                 block_strides: Sequence[int] = (),
                 patch_grid: Sequence[int] = (48, 48),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # config checks
        taps = check_taps(default_taps(num_layers, DEFAULT_TAP_FRACTIONS) if taps is None
                          else taps, num_layers)
        self.weights = per_tap(weights, taps, [1.0] * len(taps), 'weights', minimum=0)
        check_dict(head, 'head', "a SimMIMHead config such as dict(type='SimMIMHead', "
                   "patch_size=4, loss=...)", allow_none=False)

        self.taps = self.required_taps = taps
        self.head = build(MODELS, head, 'head')
        patch_size = block_strides[0]
        # block -> (h, w) of its stage's token map
        self.maps = {block: tuple(side * patch_size // block_strides[block - 1]
                                  for side in patch_grid) for block in taps}
        self.norms = ModuleDict({f'l{block}': nn.LayerNorm(block_channels[block - 1])
                                 for block in taps})
        self.decoders = ModuleDict({
            f'l{block}': build(MODELS, dict(type='SimMIMLinearDecoder',
                                            in_channels=block_channels[block - 1],
                                            encoder_stride=block_strides[block - 1]), 'taps')
            for block in taps
        })

    def loss(self, state: MIMState, teacher) -> Dict[str, torch.Tensor]:
        mask = state.mask.view(-1, *state.grid)  # (B, h, w), the head's mask
        losses = {}
        for block, weight in zip(self.taps, self.weights):
            tokens = self.norms[f'l{block}'](state.taps[block])  # (B, h_s w_s, C_s)
            x = tokens.transpose(1, 2).unflatten(2, self.maps[block])  # (B, C_s, h_s, w_s)
            reconstruction = self.decoders[f'l{block}'](x)  # (B, 3, H, W)
            losses[f'loss_l{block}'] = weight * call_head_loss(
                self.head, self.head.loss, reconstruction, state.pixels, mask, state=state)
        return losses
