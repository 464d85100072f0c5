"""bf16 autocast on any device, for machines where mmengine's AmpOptimWrapper refuses."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import nn


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """:class:`OptimWrapper` that runs the forward pass under bf16 autocast on the device
    of the model's parameters (CPU or CUDA).

    mmengine 0.10's ``AmpOptimWrapper`` refuses a machine without an accelerator. bf16
    keeps fp32's exponent range, so no loss scaling is needed: gradients, the optimizer
    step and the weights stay fp32, as with ``AmpOptimWrapper(dtype='bfloat16')``.
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device, dtype=torch.bfloat16):
            yield
