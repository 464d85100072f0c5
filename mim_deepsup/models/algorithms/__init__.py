from .composable_beit import ComposableBEiT
from .composable_mae import ComposableMAE

__all__ = ['ComposableBEiT', 'ComposableMAE']
