"""Losses of the deep-supervision techniques."""
from .distance_weighted_pixel_loss import DistanceWeightedPixelLoss

__all__ = ['DistanceWeightedPixelLoss']
