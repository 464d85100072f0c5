"""Data transforms of the techniques (registered in mmpretrain's TRANSFORMS)."""
from .robust_load_image import RobustLoadImageFromFile
from .simple_resized_crop import SimpleResizedCrop
from .three_augment import ThreeAugment

__all__ = ['RobustLoadImageFromFile', 'SimpleResizedCrop', 'ThreeAugment']
