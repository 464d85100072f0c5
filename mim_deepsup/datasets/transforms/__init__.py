"""Image loading that names (or skips) bad files, and LUT's view transforms (registered in
mmpretrain's TRANSFORMS)."""
from .context_view import ContextViewColour, SimpleResizedCrop, ThreeAugment
from .robust_load_image import RobustLoadImageFromFile

__all__ = ['ContextViewColour', 'RobustLoadImageFromFile', 'SimpleResizedCrop', 'ThreeAugment']
