"""Heads (supervision components) of the deep-supervision techniques."""
from .deep_supervision import DeepSupervision
from .deep_token_supervision import DeepTokenSupervision

__all__ = ['DeepSupervision', 'DeepTokenSupervision']
