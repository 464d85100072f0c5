"""Image loading that names (or skips) bad files (registered in mmpretrain's TRANSFORMS).
LUT's view transforms are in :mod:`mim_deepsup.methods.lut`."""
from .robust_load_image import RobustLoadImageFromFile

__all__ = ['RobustLoadImageFromFile']
