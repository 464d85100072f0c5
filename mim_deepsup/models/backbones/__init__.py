from .strict_load_vit import StrictLoadVisionTransformer
from .tapped_beit_vit import TappedBEiTPretrainViT
from .tapped_mae_vit import TappedMAEViT, TapsMixin

__all__ = ['StrictLoadVisionTransformer', 'TappedBEiTPretrainViT', 'TappedMAEViT', 'TapsMixin']
