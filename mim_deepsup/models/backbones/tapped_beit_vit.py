"""BEiTPretrainViT that also records the outputs of chosen blocks ("taps")."""
from mmpretrain.models import BEiTPretrainViT
from mmpretrain.registry import MODELS

from .tapped_mae_vit import TapsMixin


@MODELS.register_module()
class TappedBEiTPretrainViT(TapsMixin, BEiTPretrainViT):
    """mmpretrain's :class:`BEiTPretrainViT`, unchanged, plus :meth:`forward_taps` and
    :meth:`recording`. A tap of the masked path is (B, 1 + N, C): BEiT keeps every position
    (masked ones hold the mask token). State-dict keys are exactly BEiTPretrainViT's."""
