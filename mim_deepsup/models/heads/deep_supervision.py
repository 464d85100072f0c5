"""DeepMIM: deep supervision of intermediate encoder blocks through auxiliary decoders."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import MODELS

from ...validation import check_dict, check_int, check_numbers
from ..utils import BaseSupervision, MIMState

# the fractions of depth the released code taps on ViT-B (blocks 6, 8, 10 of 12)
DEFAULT_TAP_FRACTIONS = (1 / 2, 2 / 3, 5 / 6)
# ours: narrower and shallower auxiliary decoders for less overhead
LIGHT_DECODER = dict(decoder_embed_dim=256, decoder_depth=2, decoder_num_heads=8)


def default_taps(num_layers: int,
                 fractions: Sequence[float] = DEFAULT_TAP_FRACTIONS) -> Tuple[int, ...]:
    """Blocks at ``fractions`` of the depth; by default the released DeepMIM code's: ViT-B
    6, 8, 10; ViT-L 12, 16, 20."""
    return tuple(sorted({round(num_layers * f) for f in fractions} - {0}))


def check_taps(taps: Sequence[int], num_layers: int) -> Tuple[int, ...]:
    """Strictly increasing intermediate blocks (from 1, below the last), or a clear error."""
    if isinstance(taps, (str, bytes)) or not isinstance(taps, Sequence):
        raise TypeError(f'taps: expected a list of blocks (ints from 1) such as [2, 4], '
                        f'got {taps!r}')
    taps = tuple(taps)
    if not taps:
        raise ValueError('taps: expected at least one intermediate block')
    taps = tuple(check_int(block, f'taps[{i}]') for i, block in enumerate(taps))
    for block in taps:
        if not 1 <= block < num_layers:
            raise ValueError(f'taps: block {block!r} is out of range; expected blocks '
                             f'1..{num_layers - 1} of this {num_layers}-block encoder '
                             f'(counted from 1; the last is the final decoder\'s)')
    if any(a >= b for a, b in zip(taps, taps[1:])):
        raise ValueError(f'taps: expected strictly increasing blocks, got {list(taps)}')
    return taps


def per_tap(key: str, values, taps: Sequence[int], default, **bounds) -> Tuple[float, ...]:
    """One float per tap from the config (``key``), each within ``bounds`` (those of
    :func:`check_number`), or ``default``."""
    if values is None:
        return tuple(float(v) for v in default)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f'{key}: expected a list of {len(taps)} numbers, one per tap '
                        f'{list(taps)}, got {values!r}')
    if len(values) != len(taps):
        raise ValueError(f'{key}: expected {len(taps)} values, one per tap '
                         f'{list(taps)}, got {len(values)}')
    return check_numbers(values, key, **bounds)


@MODELS.register_module()
class DeepSupervision(BaseSupervision):
    """Auxiliary decoders on intermediate blocks, each with a masked-patch loss.

    METHODS.md, DeepMIM. For every tapped block l the decoder ``l`` (an MAE decoder, see
    :class:`AuxiliaryDecoders`) reads that block's raw output on the visible tokens and
    predicts every patch; its loss is ``head``'s criterion over masked patches only::

        loss_l = w_l * criterion(pred_l (B, N, D), target_l (B, N, D), mask (B, N))

    logged as ``loss_l6``, ``loss_l8``, ... (prefixed with the component's name by the
    algorithm); the final decoder is the algorithm's own (``loss_mim``), weight 1.

    Targets (``target_l``):

    - pixels (default): ``head`` is mmpretrain's ``MAEPretrainHead`` and
      ``target_l = head.construct_target(images)`` (norm_pix patches), computed once;
    - features: ``head`` has no ``construct_target`` (e.g. ``MIMHead`` with
      ``CosineSimilarityLoss(2, 2)``, i.e. 2 - 2 cos); the target is the algorithm's
      ``target_generator`` output ``state.target``, shared with the final decoder;
    - hybrid pixels: with ``hybrid`` (a :class:`FrozenMAEReconstruction`), run once per
      step, ``target_l = a_l * raw + (1 - a_l) * frozen_reconstruction``.

    Args:
        taps (Sequence[int], optional): strictly increasing intermediate blocks (from 1,
            below the last). Default: the released code's fractions of depth, 1/2, 2/3 and
            5/6 (ViT-B: 6, 8, 10; ViT-L: 12, 16, 20).
        weights (Sequence[float], optional): w_l >= 0, one per tap; default 1.0 each.
        decoder (dict | str): shape of every auxiliary decoder (``AuxiliaryDecoders``
            arguments). Default: the released code's 512-d x 8 blocks x 16 heads.
            ``light=True`` in the dict (or ``'light'``) starts from 256-d x 2 blocks x 8
            heads instead (ours); the dict's other keys still apply.
        head (dict, optional): the criterion (and pixel target) as an mmpretrain MIM head.
            Default: the algorithm's own head, so every decoder has the same target.
        hybrid (dict, optional): a :class:`FrozenMAEReconstruction` config.
        hybrid_alphas (Sequence[float], optional): a_l in [0, 1], one per tap. Default
            (ours, not published): a_l = l / num_layers, growing with depth as the paper
            describes.
        num_layers, embed_dims, patch_size, num_patches: the backbone's sizes, and
        target_channels: the width of the target generator's output (None if unknown),
            filled in by the algorithm.
    """

    algorithm_args = ('num_layers', 'embed_dims', 'patch_size', 'num_patches', 'head',
                      'target_channels')
    tap_layout = 'visible'  # MAE decoders: visible tokens and ids_restore

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
        self.taps = check_taps(default_taps(num_layers) if taps is None else taps, num_layers)
        self.required_taps = self.taps
        self.weights = per_tap('weights', weights, self.taps, [1.0] * len(self.taps),
                               minimum=0)

        decoder = dict(light=True) if decoder == 'light' else decoder
        if not isinstance(decoder, (dict, type(None))):
            raise ValueError(f"decoder: expected a dict of AuxiliaryDecoders arguments or "
                             f"'light', got {decoder!r}")
        decoder = dict(decoder or {})
        shape = LIGHT_DECODER if decoder.pop('light', False) else {}
        try:
            self.decoders = MODELS.build(dict(
                type='AuxiliaryDecoders', num_patches=num_patches, patch_size=patch_size,
                embed_dim=embed_dims, **dict(shape, **decoder), taps=self.taps))
        except (TypeError, ValueError) as e:
            raise type(e)(f'decoder: {e}') from e

        check_dict(head, 'head', "a dict of an mmpretrain MIM head such as "
                   "dict(type='MAEPretrainHead', ...)")
        check_dict(hybrid, 'hybrid', "a dict of FrozenMAEReconstruction arguments")
        head = head or dict(type='MAEPretrainHead', norm_pix=True, patch_size=patch_size,
                            loss=dict(type='PixelReconstructionLoss', criterion='L2'))
        self.head = MODELS.build(head)
        self.pixel_target = hasattr(self.head, 'construct_target')
        self.needs_target = not self.pixel_target
        width = next(iter(self.decoders.decoders.values())).decoder_pred.out_features
        expected = patch_size**2 * 3 if self.pixel_target else target_channels
        if expected is not None and width != expected:
            raise ValueError(f'decoder.predict_feature_dim: the auxiliary decoders predict '
                             f'{width} values per patch, the target has {expected}')

        self.hybrid = None
        if hybrid is not None:
            if not self.pixel_target:
                raise ValueError('hybrid: the hybrid target mixes pixels; head must be a '
                                 'pixel head (MAEPretrainHead)')
            self.hybrid = MODELS.build(hybrid, default_args=dict(key='hybrid'))
            if self.hybrid.norm_pix != self.head.norm_pix:
                raise ValueError(f'hybrid.model: the frozen MAE\'s head has norm_pix='
                                 f'{self.hybrid.norm_pix}, this target norm_pix='
                                 f'{self.head.norm_pix}: its reconstruction would not be in '
                                 f'the raw target\'s space')
        elif hybrid_alphas is not None:
            raise ValueError('hybrid_alphas: given without hybrid (the frozen MAE whose '
                             'reconstruction they mix in)')
        default_alphas = [block / num_layers for block in self.taps]
        self.hybrid_alphas = per_tap('hybrid_alphas', hybrid_alphas, self.taps, default_alphas,
                                     minimum=0, maximum=1)

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        preds = self.decoders(state.taps, state.ids_restore)  # block -> (B, N, D)
        # (B, N, p * p * 3) norm_pix patches, or (B, N, D) the target generator's output
        target = (self.head.construct_target(state.inputs)
                  if self.pixel_target else state.target)
        recon = self.hybrid(state) if self.hybrid is not None else None  # (B, N, p * p * 3)
        losses = {}
        for block, weight, alpha in zip(self.taps, self.weights, self.hybrid_alphas):
            # METHODS.md, DeepMIM hybrid target: a_l * raw + (1 - a_l) * reconstruction
            # (B, N, p * p * 3) = a_l * (B, N, p * p * 3) + (1 - a_l) * (B, N, p * p * 3)
            target_l = target if recon is None else alpha * target + (1 - alpha) * recon
            # masked patches only (mask (B, N), 1 = removed)
            loss = self.head.loss_module(preds[block], target_l, state.mask)
            losses[f'loss_l{block}'] = weight * loss
        return losses
