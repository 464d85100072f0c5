"""Segmentation-only parts (they import mmsegmentation; pretraining never imports this).

Importing ``mim_deepsup.seg`` registers in mmsegmentation's registries the backbones that
load a converted checkpoint strictly and the class-weighted cross-entropy
(:mod:`.losses`), and imports :mod:`mim_deepsup` for its hooks.
"""
from .. import engine  # noqa: F401  (WeightsOnlyCheckpointHook, for resuming seg runs)
from . import backbones  # noqa: F401  (registers components)
from .losses import ClassWeightedCrossEntropyLoss, median_frequency_weights

__all__ = ['ClassWeightedCrossEntropyLoss', 'median_frequency_weights']
