"""An optimizer-wrapper constructor that leaves frozen sub-modules out quietly."""
import logging

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SkipFrozenOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor (``paramwise_cfg`` and all), except that a sub-module
    none of whose parameters needs a gradient (the EMA teacher, a frozen target network) is
    left out with one INFO line, instead of one WARNING per parameter (hundreds for a ViT
    teacher). Its parameters would be skipped by the default constructor all the same.
    """

    def add_params(self, params, module: nn.Module, prefix: str = '', **kwargs) -> None:
        weights = list(module.parameters())
        if prefix and weights and not any(p.requires_grad for p in weights):
            print_log(f'{prefix}: {len(weights)} parameters without gradients (a frozen or '
                      f'EMA module) are not optimised', logger='current', level=logging.INFO)
            return
        super().add_params(params, module, prefix=prefix, **kwargs)
