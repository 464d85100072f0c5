from . import context_view_augment, transforms  # noqa: F401  (registers them)
from .demo_data import SEG_CLASSES, SHAPES, make_demo_data, make_demo_image

__all__ = ['SEG_CLASSES', 'SHAPES', 'make_demo_data', 'make_demo_image']
