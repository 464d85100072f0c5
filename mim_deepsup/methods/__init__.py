"""The techniques, one module each: DeepMIM, DDAE and LUT (docs/methods.md)."""
from .ddae import (
                   DDAEBEiTV2Head,
                   DDAEExponentSchedule,
                   DDAEFeatureLoss,
                   DDAEPixelLoss,
                   DDAESupervision,
)
from .deepmim import (
                   DeepMIMDecoders,
                   DeepMIMHybridTarget,
                   DeepMIMSupervision,
                   DeepMIMTokenSupervision,
)
from .lut import AllReduceBatchNorm, LUTSupervision, SimpleResizedCrop, ThreeAugment

__all__ = [
    'AllReduceBatchNorm', 'DDAEBEiTV2Head', 'DDAEExponentSchedule', 'DDAEFeatureLoss',
    'DDAEPixelLoss', 'DDAESupervision', 'DeepMIMDecoders', 'DeepMIMHybridTarget',
    'DeepMIMSupervision', 'DeepMIMTokenSupervision', 'LUTSupervision', 'SimpleResizedCrop',
    'ThreeAugment'
]
