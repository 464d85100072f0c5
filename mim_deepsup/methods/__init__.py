"""The techniques, one module each: DeepMIM, DDAE and LUT (docs/methods.md)."""
from .ddae import (
                   DDAEBEiTV2Head,
                   DDAEExponentSchedule,
                   DDAEFeatureLoss,
                   DDAEPixelLoss,
                   DDAESimMIMHead,
                   DDAESupervision,
)
from .deepmim import (
                   DeepMIMDecoders,
                   DeepMIMFeatureHeads,
                   DeepMIMHybridTarget,
                   DeepMIMSupervision,
                   DeepMIMSwinSupervision,
                   DeepMIMTokenSupervision,
)
from .lut import LUTSupervision

__all__ = [
    'DDAEBEiTV2Head', 'DDAEExponentSchedule', 'DDAEFeatureLoss', 'DDAEPixelLoss',
    'DDAESimMIMHead', 'DDAESupervision', 'DeepMIMDecoders', 'DeepMIMFeatureHeads',
    'DeepMIMHybridTarget', 'DeepMIMSupervision', 'DeepMIMSwinSupervision',
    'DeepMIMTokenSupervision', 'LUTSupervision'
]
