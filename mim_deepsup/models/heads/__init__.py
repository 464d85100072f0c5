"""Heads (supervision components) of the deep-supervision techniques."""
from .deep_supervision import DeepSupervision

__all__ = ['DeepSupervision']
