from .tapped_beit_vit import TappedBEiTPretrainViT
from .tapped_mae_vit import TappedMAEViT, TapsMixin

__all__ = ['TappedBEiTPretrainViT', 'TappedMAEViT', 'TapsMixin']
