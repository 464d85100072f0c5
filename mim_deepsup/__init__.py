"""mim-deepsup: deep and dynamic supervision for masked image modeling in OpenMMLab.

Importing this package registers the pretraining components (algorithms, backbones,
supervisions, hooks) in mmpretrain's registries. It does not import mmsegmentation.
"""
from . import datasets, engine, models  # noqa: F401  (registers components)
from .version import __version__

__all__ = ['__version__']
