from .tapped_mae_vit import TappedMAEViT, TapsMixin

__all__ = ['TappedMAEViT', 'TapsMixin']
