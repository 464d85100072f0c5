"""mmpretrain's MAE, BEiT and MaskFeat ViTs and SimMIM's Swin that also return the outputs
of chosen blocks ("taps")."""
from contextlib import contextmanager
from functools import partial
from typing import Dict, Iterator, Sequence, Tuple

import torch
from mmpretrain.models import BEiTPretrainViT, MAEViT, SimMIMSwinTransformer
from mmpretrain.models.selfsup.maskfeat import MaskFeatViT
from mmpretrain.registry import MODELS

Taps = Dict[int, torch.Tensor]  # block number (from 1) -> that block's raw output


def _store_output(store: Taps, block: int, module, args, output) -> None:
    store[block] = output


class TapsMixin:
    """What the algorithms ask of a tapped ViT whose transformer blocks are ``self.layers``.

    Blocks are numbered from 1: block 6 of ViT-B is ``layers[5]``. A tap is the raw output
    of its block, before any final norm.
    """

    def blocks_to_record(self, taps: Sequence[int], key: str = 'taps') -> Tuple[int, ...]:
        """The sorted blocks of ``taps`` (repeats once), each checked to be one of this
        backbone's."""
        num_layers = len(self.layers)
        for block in taps:
            if not isinstance(block, int) or not 1 <= block <= num_layers:
                raise ValueError(f'{key}: block {block!r} is not a block of this backbone; '
                                 f'expected an int in [1, {num_layers}] (blocks count from 1)')
        return tuple(sorted(set(taps)))

    def facts(self) -> Dict[str, object]:
        """Sizes a supervision component may take from its backbone (``algorithm_args``)."""
        patch_size = self.patch_embed.projection.kernel_size[0]
        height, width = self.patch_resolution
        return dict(num_layers=len(self.layers), embed_dims=self.embed_dims,
                    patch_size=patch_size, num_patches=height * width,
                    patch_grid=(height, width))

    @contextmanager
    def recording(self, taps: Sequence[int]) -> Iterator[Taps]:
        """Within the block, every forward pass records the raw outputs of ``taps`` into the
        yielded dict (forward hooks on those blocks: the forward stays the parent's)."""
        captured: Taps = {}
        handles = [
            self.layers[block - 1].register_forward_hook(partial(_store_output, captured, block))
            for block in taps
        ]
        try:
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    def forward_taps(self, x: torch.Tensor, taps: Sequence[int] = (), **kwargs):
        """``self(x, **kwargs)`` and the raw outputs of ``taps``: ``(outputs, taps)``, e.g.
        the unmasked pass (``mask=None``) or BEiT's masked pass (``mask=mask``)."""
        with self.recording(taps) as captured:
            outputs = self(x, **kwargs)
        return outputs, captured


@MODELS.register_module()
class TappedMAEViT(TapsMixin, MAEViT):
    """mmpretrain's :class:`MAEViT` plus :meth:`forward_masked`, its masked pass with a given
    permutation, returning the taps too.

    ``forward(x, mask=None)`` (the unmasked pass) and MAE's own random ``forward(x)`` are
    MAEViT's. State-dict keys are exactly MAEViT's, so checkpoints load into MAEViT and into
    the fine-tuning ``VisionTransformer`` as they are.

    Its arguments are :class:`MAEViT`'s, with the same defaults.
    """

    def forward_masked(self, x: torch.Tensor, ids_restore: torch.Tensor, num_visible: int,
                       taps: Sequence[int] = ()):
        """MAEViT's masked pass, keeping the patches the permutation ``ids_restore`` keeps.

        With ``ids_restore = argsort(argsort(noise))`` for MAE's noise draw
        ``torch.rand(B, N)`` it computes exactly what ``MAEViT.forward(x)`` computes.

        Args:
            x (torch.Tensor): (B, 3, H, W) images.
            ids_restore (torch.Tensor): (B, N) long, a permutation per image whose inverse
                lists the kept patches first (MAE's ``ids_restore``).
            num_visible (int): K, the kept patches per image.
            taps (Sequence[int]): blocks (from 1) whose raw outputs to return.
                Defaults to ().

        Returns:
            tuple: ``((latent, mask, ids_restore), taps)``: (B, 1 + K, C) final-normed
            tokens, (B, N) float mask (1 = removed), the permutation, and block -> (B, 1 + K,
            C) raw block outputs.
        """
        tokens = self.patch_embed(x)[0] + self.pos_embed[:, 1:, :]  # (B, N, C)
        ids_keep = torch.argsort(ids_restore, dim=1)[:, :num_visible]  # (B, K)
        tokens = torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, tokens.shape[-1]))
        mask = (ids_restore >= num_visible).float()  # (B, N), 1 = removed, as MAE's
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(len(x), -1, -1)
        tokens = torch.cat((cls, tokens), dim=1)  # (B, 1 + K, C)
        wanted, outputs = set(taps), {}
        for block, layer in enumerate(self.layers, start=1):
            tokens = layer(tokens)
            if block in wanted:
                outputs[block] = tokens
        return (self.norm1(tokens), mask, ids_restore), outputs


@MODELS.register_module()
class TappedBEiTPretrainViT(TapsMixin, BEiTPretrainViT):
    """mmpretrain's :class:`BEiTPretrainViT`, unchanged, plus :meth:`forward_taps`. A tap of
    the masked pass ``forward_taps(x, taps, mask=mask)`` is (B, 1 + N, C): BEiT keeps every
    position (masked ones hold the mask token). State-dict keys are BEiTPretrainViT's.

    Its arguments are :class:`BEiTPretrainViT`'s, with the same defaults.
    """


@MODELS.register_module()
class TappedMaskFeatViT(TapsMixin, MaskFeatViT):
    """mmpretrain's :class:`MaskFeatViT`, unchanged, plus :meth:`forward_taps`. A tap of the
    masked pass ``forward_taps(x, taps, mask=mask)`` is (B, 1 + N, C): MaskFeat keeps every
    position (masked ones started as the mask token). State-dict keys are MaskFeatViT's.

    Its arguments are :class:`MaskFeatViT`'s, with the same defaults.
    """


@MODELS.register_module()
class TappedSimMIMSwin(TapsMixin, SimMIMSwinTransformer):
    """mmpretrain's :class:`SimMIMSwinTransformer`, unchanged, plus the taps of its blocks.

    Blocks are numbered from 1 across the stages (Swin-B's 2 + 2 + 18 + 2: block 5 is the
    first of stage 3). A tap of the masked pass ``forward_taps(x, taps, mask=mask)`` is the
    block's raw output, (B, h_s w_s, C_s) tokens of every position (masked ones started as
    the mask token) at its stage's resolution, before the stage's patch merging: stage s
    (from 0) has stride ``patch_size * 2**s`` and ``embed_dims * 2**s`` channels. State-dict
    keys are SimMIMSwinTransformer's.

    Its arguments are :class:`SimMIMSwinTransformer`'s, with the same defaults.
    """

    @property
    def layers(self):
        """Every block of every stage, in order (a list: the modules stay the stages')."""
        return [block for stage in self.stages for block in stage.blocks]

    def facts(self) -> Dict[str, object]:
        """As :meth:`TapsMixin.facts` on the patch grid of the first stage, plus each block's
        ``block_channels`` and ``block_strides`` (in pixels) and the final ``embed_dims``."""
        patch_size = self.patch_embed.projection.kernel_size[0]
        height, width = self.patch_resolution
        channels, strides = [], []
        for s, stage in enumerate(self.stages):
            channels += [self.embed_dims * 2**s] * len(stage.blocks)
            strides += [patch_size * 2**s] * len(stage.blocks)
        return dict(num_layers=len(channels), embed_dims=self.stages[-1].out_channels,
                    patch_size=patch_size, num_patches=height * width,
                    patch_grid=(height, width), block_channels=tuple(channels),
                    block_strides=tuple(strides))
