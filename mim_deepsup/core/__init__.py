"""What the techniques share: the step's state, the component protocol, tapped backbones,
the EMA teacher, view masking, frozen target networks, calling a head's loss, and the
composable base the algorithms (``mim_deepsup.algorithms``) are built on."""
from .component import BaseSupervision
from .composable import ComposableMixin
from .head_loss import ReadsState, call_head_loss, pixel_target
from .image_targets import LowFreqPixelTarget, PatchHOGTarget
from .layers import AllReduceBatchNorm
from .state import MIMState
from .taps import TappedBEiTPretrainViT, TappedMAEViT, TappedMaskFeatViT, TappedSimMIMSwin
from .targets import FP32CosineSimilarityLoss, FrozenFeatureTarget, FrozenModule, TokenProjection
from .teacher import EMATeacher

__all__ = [
    'AllReduceBatchNorm', 'BaseSupervision', 'ComposableMixin', 'EMATeacher',
    'FP32CosineSimilarityLoss', 'FrozenFeatureTarget', 'FrozenModule', 'LowFreqPixelTarget',
    'MIMState', 'PatchHOGTarget', 'ReadsState', 'call_head_loss', 'pixel_target',
    'TappedBEiTPretrainViT', 'TappedMAEViT', 'TappedMaskFeatViT', 'TappedSimMIMSwin',
    'TokenProjection'
]
