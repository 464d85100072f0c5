"""bf16 autocast on any device, for machines where mmengine's AmpOptimWrapper refuses."""
import weakref
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import nn

from ...benchmarking.cpu_tuning import use_fp32_attention_on_cpu


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """:class:`OptimWrapper` that runs the forward pass under bf16 autocast on the device
    of the model's parameters (CPU or CUDA).

    mmengine 0.10's ``AmpOptimWrapper`` refuses a machine without an accelerator. bf16
    keeps fp32's exponent range, so no loss scaling is needed: gradients, the optimizer
    step and the weights stay fp32, as with ``AmpOptimWrapper(dtype='bfloat16')``.

    Args:
        fp32_cpu_attention (bool): on the CPU, run mmpretrain's attention modules'
            scaled-dot-product attention in fp32 (``fp32_attention_on_cpu`` of
            :mod:`mim_deepsup.benchmarking.cpu_tuning`): faster there than bf16, and fp32
            attention rounded once to bf16. Set on the model at the first step (not undone
            by a later wrapper). On CUDA it changes nothing. Defaults to True.
        **kwargs: :class:`OptimWrapper`'s arguments.
    """

    def __init__(self, *args, fp32_cpu_attention: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fp32_cpu_attention = fp32_cpu_attention
        self._attention_set = weakref.WeakSet()  # the models already changed

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device.type
        if self.fp32_cpu_attention and device == 'cpu' and model not in self._attention_set:
            use_fp32_attention_on_cpu(model)
            self._attention_set.add(model)
        with super().optim_context(model), torch.autocast(device, dtype=torch.bfloat16):
            yield
