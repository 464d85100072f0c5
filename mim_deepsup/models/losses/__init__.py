"""Losses of the deep-supervision techniques."""
from .distance_weighted_pixel_loss import DistanceWeightedFeatureLoss, DistanceWeightedPixelLoss
from .fp32_cosine_similarity_loss import FP32CosineSimilarityLoss

__all__ = ['DistanceWeightedFeatureLoss', 'DistanceWeightedPixelLoss', 'FP32CosineSimilarityLoss']
