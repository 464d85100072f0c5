"""Frozen networks that supply reconstruction targets."""
from .frozen_feature_target import FrozenFeatureTarget, TokenProjection
from .frozen_mae_reconstruction import FrozenMAEReconstruction

__all__ = ['FrozenFeatureTarget', 'FrozenMAEReconstruction', 'TokenProjection']
