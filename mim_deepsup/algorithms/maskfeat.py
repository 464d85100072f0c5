"""MaskFeat (a ViT with mask tokens, a linear neck regressing the HOG of the masked
patches) with supervision components."""
from typing import Dict, List

import torch
from mmpretrain.models import MaskFeat
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..core.composable import ComposableMixin
from ..core.head_loss import call_head_loss


@MODELS.register_module()
class ComposableMaskFeat(ComposableMixin, MaskFeat):
    """mmpretrain's :class:`MaskFeat` plus components.

    The step is MaskFeat's, written forward: the backbone's masked pass (recording the
    blocks the components asked for), the neck on every token, the target generator's HOG
    of the images (once), then the head's loss on the patch tokens exactly as
    ``MaskFeat.loss``; every component adds its terms from the shared state:
    ``state.taps`` (B, 1 + N, C) of every position, ``state.target`` (B, N, D) the HOG,
    ``state.mask`` (B, N) float (BEiT's block-wise mask), ``state.teacher_tokens`` when a
    component reads the EMA teacher (its final-normed tokens on the unmasked images). A
    head loss that is ``ReadsState`` (DDAE's) is also given the state.

    Args:
        backbone (dict): a ``TappedMaskFeatViT``.
        **kwargs: ``supervisions`` and ``teacher`` (:class:`ComposableMixin`'s), and the
            rest of :class:`MaskFeat`'s arguments (neck, head, target_generator).
    """

    tap_layout = 'all'
    component_layouts = (None, 'all')

    def check_parts(self) -> None:
        """MaskFeat's target generator (HOG)."""
        if not self.with_target_generator:
            raise ValueError('model.target_generator: MaskFeat regresses a target such as '
                             "dict(type='HOGGenerator'); none is set")

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes, the head config and the target's width (the neck's output
        width)."""
        fc = getattr(self.neck, 'fc', None)
        return dict(super().component_defaults(),
                    target_channels=getattr(fc, 'out_features', None))

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        mask = torch.stack([sample.mask for sample in data_samples]).flatten(1).bool()
        latent, taps = self.backbone.forward_taps(inputs, self.taps, mask=mask)
        batch, length, channels = latent.shape  # (B, 1 + N, C)
        pred = self.neck((latent.view(batch * length, channels), ))[0].view(batch, length, -1)
        hog = self.target_generator(inputs)  # (B, N, D)
        state = self.new_state(inputs, mask.float(), data_samples, taps=taps, target=hog)
        if self.needs_teacher:  # (B, 1 + N, C): the final-normed tokens, unmasked images
            state.teacher_tokens = self.teacher_tokens(inputs)
        loss_module = self.head.loss_module  # MIMHead.loss, on the patch tokens
        loss = call_head_loss(loss_module, loss_module, pred[:, 1:], hog, mask, state=state)
        return self.add_component_losses({'loss': loss}, state)
