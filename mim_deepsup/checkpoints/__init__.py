"""Checkpoint conversion for downstream tasks (no mmsegmentation import)."""
from .backbone_converter import convert_checkpoint, extract_backbone, load_state_dict

__all__ = ['convert_checkpoint', 'extract_backbone', 'load_state_dict']
