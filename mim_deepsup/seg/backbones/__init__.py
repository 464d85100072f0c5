from .strict_load_vit import StrictLoadBEiT, StrictLoadMAE

__all__ = ['StrictLoadMAE', 'StrictLoadBEiT']
