"""Losses of the deep-supervision techniques."""
from .distance_weighted_pixel_loss import DistanceWeightedFeatureLoss, DistanceWeightedPixelLoss

__all__ = ['DistanceWeightedFeatureLoss', 'DistanceWeightedPixelLoss']
