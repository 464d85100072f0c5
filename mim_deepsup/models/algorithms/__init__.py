from .composable_mae import ComposableMAE

__all__ = ['ComposableMAE']
