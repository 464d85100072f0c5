"""bf16 autocast on any device, for machines where mmengine's AmpOptimWrapper refuses."""
import weakref
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import nn


def fp32_attention_on_cpu(query, key, value, *args, **kwargs):
    """``F.scaled_dot_product_attention``, run in fp32 when given bf16 tensors on the CPU.

    The CPU's bf16 attention kernels are slower than its fp32 ones (ViT-B, 8 x 12 heads x
    50 tokens x 64: forward + backward 9.2 ms in bf16, 3.1 ms in fp32), and fp32 is the more
    accurate. The output is cast back to the input's dtype, so the ops around it see what
    autocast would have given them. Elsewhere (CUDA, fp32) it is the plain function.
    """
    if query.device.type != 'cpu' or query.dtype != torch.bfloat16:
        return F.scaled_dot_product_attention(query, key, value, *args, **kwargs)
    # an additive (floating) mask must match the fp32 query; a boolean one stays as it is
    args = [_fp32(a) for a in args]
    kwargs = {k: _fp32(v) for k, v in kwargs.items()}
    with torch.autocast('cpu', enabled=False):
        out = F.scaled_dot_product_attention(query.float(), key.float(), value.float(),
                                             *args, **kwargs)
    return out.to(query.dtype)


def _fp32(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    return value


def use_fp32_attention_on_cpu(model: nn.Module) -> int:
    """Make every mmpretrain attention module of ``model`` that calls torch's
    ``F.scaled_dot_product_attention`` (its ``scaled_dot_product_attention`` attribute)
    call :func:`fp32_attention_on_cpu` instead. Returns how many were changed."""
    changed = 0
    for module in model.modules():
        if vars(module).get('scaled_dot_product_attention') is F.scaled_dot_product_attention:
            module.scaled_dot_product_attention = fp32_attention_on_cpu
            changed += 1
    return changed


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """:class:`OptimWrapper` that runs the forward pass under bf16 autocast on the device
    of the model's parameters (CPU or CUDA).

    mmengine 0.10's ``AmpOptimWrapper`` refuses a machine without an accelerator. bf16
    keeps fp32's exponent range, so no loss scaling is needed: gradients, the optimizer
    step and the weights stay fp32, as with ``AmpOptimWrapper(dtype='bfloat16')``.

    Args:
        fp32_cpu_attention (bool): on the CPU, run mmpretrain's attention modules'
            scaled-dot-product attention in fp32 (:func:`fp32_attention_on_cpu`): faster
            there than bf16, and fp32 attention rounded once to bf16. Set on the model at
            the first step (not undone by a later wrapper). On CUDA it
            changes nothing. Defaults to True.
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
