"""SimMIM (a Swin with mask tokens, a linear decoder, L1 over the masked pixels) with
supervision components."""
from typing import Dict, List

import torch
from mmpretrain.models import SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..core.composable import ComposableMixin
from ..core.head_loss import call_head_loss


@MODELS.register_module()
class ComposableSimMIM(ComposableMixin, SimMIM):
    """mmpretrain's :class:`SimMIM` plus components reading the taps of its blocks.

    The step is SimMIM's, written forward: the backbone's masked pass (recording the blocks
    the components asked for), the neck's reconstruction of the final stage, then
    ``head.loss(reconstruction, inputs, mask)`` exactly as ``SimMIM.loss``; every component
    adds its terms from the shared state: ``state.taps`` (B, h_s w_s, C_s) per block at its
    stage's resolution (:class:`TappedSimMIMSwin`), ``state.mask`` (B, N) float on the
    backbone's patch grid ``state.grid`` (SimMIM's masks are blocks of mask patches, e.g.
    32 px = 8 x 8 patches of 4 px), ``state.pixels`` the images. A head that is
    ``ReadsState`` (DDAE's) is also given the state.

    Args:
        backbone (dict): a ``TappedSimMIMSwin``.
        **kwargs: ``supervisions`` (:class:`ComposableMixin`'s; each component reads Swin
            taps, ``tap_layout = 'swin'``), and the rest of :class:`SimMIM`'s arguments
            (neck, head, ...).
    """

    tap_layout = 'swin'
    component_layouts = ('swin', )  # a ViT component's predictors do not fit Swin stages

    def check_components(self) -> None:
        """No EMA teacher: no SimMIM component reads one."""
        if self.needs_teacher:
            raise ValueError('model.supervisions: ComposableSimMIM has no component that '
                             'reads an EMA teacher')

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        mask = torch.stack([sample.mask for sample in data_samples])  # (B, h, w), 1 = masked
        latent, taps = self.backbone.forward_taps(inputs, self.taps, mask=mask)
        state = self.new_state(inputs, mask.flatten(1).float(), data_samples, taps=taps)
        reconstruction = self.neck(latent[0])  # (B, 3, H, W) from the final stage
        loss = call_head_loss(self.head, self.head.loss, reconstruction, inputs, mask,
                              state=state)
        return self.add_component_losses({'loss': loss}, state)
