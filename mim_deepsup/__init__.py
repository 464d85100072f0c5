"""mim-deepsup: deep and dynamic supervision for masked image modeling in OpenMMLab.

Importing this package registers the pretraining components in mmpretrain's registries:
the shared core (:mod:`mim_deepsup.core`), the composable algorithms
(:mod:`mim_deepsup.algorithms`: MAE, BEiT-v2, SimMIM, MaskFeat), the techniques
(:mod:`mim_deepsup.methods`: DeepMIM, DDAE, LUT), data transforms, hooks and optimizer
wrappers. It does not import mmsegmentation (:mod:`mim_deepsup.seg` does).

:func:`config_path` names one of the package's configs, for a config elsewhere to inherit.
"""
from . import algorithms, core, datasets, engine, finetune, methods  # noqa: F401  (registers)
from .config_paths import config_path
from .version import __version__

__all__ = ['__version__', 'config_path']
