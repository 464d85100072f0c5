"""mmpretrain's self-supervised algorithms, composable: one file per framework, each the
framework's step written forward on :class:`~mim_deepsup.core.composable.ComposableMixin`
(the components, the teacher, the step's state)."""
from .beitv2 import ComposableBEiT
from .mae import ComposableMAE
from .maskfeat import ComposableMaskFeat
from .simmim import ComposableSimMIM

__all__ = ['ComposableBEiT', 'ComposableMAE', 'ComposableMaskFeat', 'ComposableSimMIM']
