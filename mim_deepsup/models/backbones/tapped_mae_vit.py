"""MAEViT that also returns the outputs of chosen intermediate blocks ("taps")."""
from functools import partial
from typing import Dict, Sequence, Tuple

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

    def forward_taps(self, x: torch.Tensor, taps: Sequence[int] = (), **kwargs):
        """Run ``self.forward(x, **kwargs)`` and collect the outputs of ``taps``.

        Returns:
            tuple: ``(outputs, taps)``: whatever ``forward`` returns, and a dict mapping each
            tapped block number to its output, (B, 1 + K, C) for MAE's masked path.
        """
        captured: Dict[int, torch.Tensor] = {}
        handles = [
            self.layers[block - 1].register_forward_hook(partial(_store_output, captured, block))
            for block in taps
        ]
        try:
            outputs = self(x, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        return outputs, captured


@MODELS.register_module()
class TappedMAEViT(TapsMixin, MAEViT):
    """mmpretrain's :class:`MAEViT`, unchanged, plus :meth:`forward_taps`.

    Its state-dict keys are exactly MAEViT's, so its checkpoints load into MAEViT and into
    the fine-tuning ``VisionTransformer`` as they are.
    """
