"""Optimizer wrappers and their constructors."""
from .bf16_optim_wrapper import BF16OptimWrapper
from .skip_frozen_constructor import SkipFrozenOptimWrapperConstructor

__all__ = ['BF16OptimWrapper', 'SkipFrozenOptimWrapperConstructor']
