"""Heads (supervision components) of the deep-supervision techniques."""
from .broader_context_supervision import BroaderContextSupervision
from .deep_dynamic_supervision import DeepDynamicSupervision
from .deep_supervision import DeepSupervision
from .deep_token_supervision import DeepTokenSupervision
from .distance_weighted_beitv2_head import DistanceWeightedBEiTV2Head

__all__ = [
    'BroaderContextSupervision', 'DeepDynamicSupervision', 'DeepSupervision',
    'DeepTokenSupervision', 'DistanceWeightedBEiTV2Head'
]
