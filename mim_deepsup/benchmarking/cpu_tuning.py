"""CPU-only tuning that the tools apply; a GPU run never needs it.

- :func:`keep_freed_memory` (``tools/train.py`` and ``tools/benchmark.py``, on the CPU):
  glibc malloc keeps the memory a training step frees for the next step, instead of giving
  it back to the kernel and faulting it in again page by page. Two ``mallopt`` settings:
  ``M_MMAP_THRESHOLD`` raised to 1 GiB (or to 32 MiB, the documented maximum on 64-bit,
  where glibc refuses that), so blocks up to it come from the heap, which keeps freed
  blocks; and ``M_TRIM_THRESHOLD`` = -1, so the heap never shrinks. The process then holds
  its peak memory, as PyTorch's CUDA caching allocator does on a GPU.
- :func:`fp32_attention_on_cpu` (:class:`~mim_deepsup.engine.BF16OptimWrapper`, on the
  CPU only): bf16 scaled-dot-product attention run in fp32, where the CPU's fp32 kernels
  are the faster ones.

docs/performance.md and docs/mixed_precision.md give the measurements.
"""
import ctypes
import os
import sys
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

# mallopt's parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# tried in turn: recent glibc takes 1 GiB; 32 MiB is the documented maximum on 64-bit
MMAP_THRESHOLDS = (1 << 30, 32 << 20)

# a user who set any of these has chosen the allocator's behaviour: leave it alone
_USER_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_')
_USER_TUNABLES = ('glibc.malloc.mmap_threshold', 'glibc.malloc.trim_threshold',
                  'glibc.malloc.top_pad')
_OTHER_ALLOCATORS = ('jemalloc', 'tcmalloc', 'mimalloc', 'tbbmalloc', 'hoard')


def _glibc() -> Optional[ctypes.CDLL]:
    """glibc's C library on 64-bit Linux, or None (another platform or C library)."""
    if not sys.platform.startswith('linux') or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols the process already has
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (e.g. musl has no gnu_get_libc_version)
        return None
    return libc


def keep_freed_memory() -> str:
    """Make glibc malloc keep freed memory for reuse (see the module docstring); returns a line
    saying what was done, or why nothing was (another allocator preloaded, the user's own
    ``MALLOC_*_`` or ``GLIBC_TUNABLES`` malloc thresholds, not glibc)."""
    preloaded = os.environ.get('LD_PRELOAD', '').lower()
    for name in _OTHER_ALLOCATORS:
        if name in preloaded:
            return f'malloc: {name} is preloaded (LD_PRELOAD); left as it is'
    own = [key for key in _USER_SETTINGS if key in os.environ]
    if any(tunable in os.environ.get('GLIBC_TUNABLES', '') for tunable in _USER_TUNABLES):
        own.append('GLIBC_TUNABLES')
    if own:
        return f'malloc: settings from the environment ({", ".join(own)}) left as they are'
    libc = _glibc()
    if libc is None:
        return 'malloc: not glibc on 64-bit Linux; left as it is'
    # the mmap threshold first: setting the trim threshold alone would also freeze glibc's
    # adaptive mmap threshold at 128 KiB, which is worse than the defaults
    threshold = next((t for t in MMAP_THRESHOLDS if libc.mallopt(M_MMAP_THRESHOLD, t)), None)
    if threshold is None:
        return 'malloc: glibc refused M_MMAP_THRESHOLD; left as it is'
    if not libc.mallopt(M_TRIM_THRESHOLD, -1):
        return (f'malloc: M_MMAP_THRESHOLD {threshold >> 20} MiB, but glibc refused '
                f'M_TRIM_THRESHOLD -1')
    return (f'malloc: freed memory kept for reuse (glibc M_MMAP_THRESHOLD '
            f'{threshold >> 20} MiB, M_TRIM_THRESHOLD -1)')


def fp32_attention_on_cpu(query, key, value, *args, **kwargs):
    """``F.scaled_dot_product_attention``, run in fp32 when given bf16 tensors on the CPU.

    The output is cast back to the input's dtype, so the ops around it see what autocast
    would have given them. Elsewhere (CUDA, fp32) it is the plain function.
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
