"""Necks of the deep-supervision techniques."""
from .auxiliary_decoders import AuxiliaryDecoders

__all__ = ['AuxiliaryDecoders']
