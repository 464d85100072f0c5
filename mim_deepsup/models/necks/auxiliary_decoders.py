"""DeepMIM's auxiliary decoders: one MAE decoder per tapped encoder block."""
from typing import Dict, Optional, Sequence

import torch
from mmengine.model import BaseModule, ModuleDict
from mmpretrain.models import MAEPretrainDecoder
from mmpretrain.registry import MODELS

from ...validation import check_int, check_number


@MODELS.register_module()
class AuxiliaryDecoders(BaseModule):
    """One MAE-style decoder (mmpretrain's :class:`MAEPretrainDecoder`) per tapped block.

    Each decoder has its own linear embed, mask token, transformer blocks, norm and
    prediction layer; the fixed sin-cos decoder position embedding is one tensor shared by
    all of them (METHODS.md, DeepMIM: "only the position embedding is shared").

    Args:
        taps (Sequence[int]): encoder blocks (from 1) whose outputs are decoded.
        num_patches (int): N, patches per image.
        patch_size (int): p; the prediction has p * p * in_chans values per patch unless
            ``predict_feature_dim`` is given.
        embed_dim (int): C, the encoder's width.
        decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio: each decoder's
            shape (the released DeepMIM code: 512, 8, 16, 4 like MAE's own decoder); the
            heads must divide decoder_embed_dim.
        predict_feature_dim (int, optional): D, the prediction width for feature targets.
        in_chans (int): image channels.
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

    def forward(self, taps: Dict[int, torch.Tensor],
                ids_restore: torch.Tensor) -> Dict[int, torch.Tensor]:
        """Decode every tapped block.

        Args:
            taps: block -> (B, 1 + K, C) that block's raw output on the visible tokens.
            ids_restore: (B, N) MAE's un-shuffling permutation.

        Returns:
            dict: block -> (B, N, D) prediction for every patch (D = p * p * 3 for pixels).
        """
        return {block: self.decoders[f'l{block}'](taps[block], ids_restore)
                for block in self.taps}
