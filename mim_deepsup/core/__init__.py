"""What the techniques share: the step's state, the component protocol, tapped backbones,
the EMA teacher, view masking, frozen target networks and the composable algorithms."""
from .algorithms import (
                         ComposableBEiT,
                         ComposableMAE,
                         ComposableMaskFeat,
                         ComposableMixin,
                         ComposableSimMIM,
)
from .component import BaseSupervision
from .state import MIMState
from .taps import TappedBEiTPretrainViT, TappedMAEViT, TappedMaskFeatViT, TappedSimMIMSwin
from .targets import (
                         FP32CosineSimilarityLoss,
                         FrozenFeatureTarget,
                         FrozenModule,
                         LowFreqPixelTarget,
                         PatchHOGTarget,
                         TokenProjection,
)
from .teacher import EMATeacher

__all__ = [
    'BaseSupervision', 'ComposableBEiT', 'ComposableMAE', 'ComposableMaskFeat', 'ComposableMixin',
    'ComposableSimMIM', 'EMATeacher',
    'FP32CosineSimilarityLoss', 'FrozenFeatureTarget', 'FrozenModule', 'LowFreqPixelTarget',
    'MIMState', 'PatchHOGTarget',
    'TappedBEiTPretrainViT', 'TappedMAEViT', 'TappedMaskFeatViT', 'TappedSimMIMSwin',
    'TokenProjection'
]
