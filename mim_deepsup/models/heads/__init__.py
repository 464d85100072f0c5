"""Heads (supervision components) of the deep-supervision techniques."""
from .broader_context_supervision import BroaderContextSupervision
from .deep_supervision import DeepSupervision
from .deep_token_supervision import DeepTokenSupervision

__all__ = ['BroaderContextSupervision', 'DeepSupervision', 'DeepTokenSupervision']
