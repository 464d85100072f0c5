"""MAEViT that also returns the outputs of chosen intermediate blocks ("taps")."""
from contextlib import contextmanager
from functools import partial
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmpretrain.models import MAEViT
from mmpretrain.registry import MODELS


def _store_output(store: Dict[int, torch.Tensor], block: int, module, args, output) -> None:
    store[block] = output


class TapsMixin:
    """Adds :meth:`forward_taps` to a ViT whose transformer blocks are ``self.layers``.

    Blocks are numbered from 1, as in METHODS.md: block 6 of ViT-B is ``layers[5]``. A tap is
    the raw output of its block (before any final norm), captured by a forward hook during
    the model's own forward pass, so the forward itself stays the parent class's.
    """

    def check_taps(self, taps: Sequence[int], key: str = 'taps') -> Tuple[int, ...]:
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
    def recording(self, taps: Sequence[int]) -> Iterator[Dict[int, torch.Tensor]]:
        """Within the block, every forward pass records the outputs of ``taps``.

        Yields the dict (block -> output) that the passes fill in.
        """
        captured: Dict[int, torch.Tensor] = {}
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
        """Run ``self.forward(x, **kwargs)`` and collect the outputs of ``taps``.

        Returns:
            tuple: ``(outputs, taps)``: whatever ``forward`` returns, and a dict mapping each
            tapped block number to its output, (B, 1 + K, C) for MAE's masked path.
        """
        with self.recording(taps) as captured:
            outputs = self(x, **kwargs)
        return outputs, captured


@MODELS.register_module()
class TappedMAEViT(TapsMixin, MAEViT):
    """mmpretrain's :class:`MAEViT`, unchanged, plus :meth:`forward_taps`.

    ``forward_taps(x, taps, ids_restore=..., num_visible=K)`` masks with a given permutation
    instead of a fresh random draw (e.g. a frozen model fed the student's visible patches).

    Its state-dict keys are exactly MAEViT's, so its checkpoints load into MAEViT and into
    the fine-tuning ``VisionTransformer`` as they are.
    """

    _given_mask: Optional[Tuple[torch.Tensor, int]] = None

    def forward_taps(self, x: torch.Tensor, taps: Sequence[int] = (),
                     ids_restore: Optional[torch.Tensor] = None,
                     num_visible: Optional[int] = None, **kwargs):
        if ids_restore is not None:
            if num_visible is None:
                num_visible = int(ids_restore.shape[1] * (1 - self.mask_ratio))
            self._given_mask = (ids_restore, num_visible)
        try:
            return super().forward_taps(x, taps, **kwargs)
        finally:
            self._given_mask = None

    def random_masking(self, x: torch.Tensor, mask_ratio: float = 0.75):
        """MAE's random masking, or the given ``ids_restore``'s (same visible patches)."""
        if self._given_mask is None:
            return super().random_masking(x, mask_ratio)
        ids_restore, len_keep = self._given_mask
        # ids_restore is a permutation: its inverse is MAE's ids_shuffle, (B, N)
        ids_keep = torch.argsort(ids_restore, dim=1)[:, :len_keep]  # (B, K)
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        mask = (ids_restore >= len_keep).float()  # (B, N), 1 = removed, as MAE's
        return x_masked, mask, ids_restore
