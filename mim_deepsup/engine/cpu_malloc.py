"""Keep the memory a training step frees for the next step (glibc malloc on Linux).

With glibc's defaults, a CPU training step gives most of its activation memory back to the
kernel when it frees it, and takes it back page by page, each page faulted in and zeroed,
in the next step: ViT-B DeepMIM at batch 8 faulted in ~0.9 GB per step, 1-3 s of system
time, and the slowdown varied from step to step. Two ``mallopt`` settings stop that (see
docs/performance.md, "Freed memory kept in the process"):

- ``M_MMAP_THRESHOLD`` raised to its documented maximum (32 MiB on 64-bit): blocks up to it
  come from the heap, which keeps freed blocks for reuse, instead of each having its own
  mapping that is unmapped when freed;
- ``M_TRIM_THRESHOLD`` = -1: the heap is never shrunk.

The process then holds its peak memory for its whole life, as PyTorch's CUDA caching
allocator does on a GPU. It changes nothing but where memory comes from.
"""
import ctypes
import ctypes.util
import os
import sys
from typing import Optional

# mallopt's parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# the largest M_MMAP_THRESHOLD glibc accepts: DEFAULT_MMAP_THRESHOLD_MAX
MAX_MMAP_THRESHOLD = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)

# a user who set any of these has chosen the allocator's behaviour: leave it alone
_USER_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_')
_OTHER_ALLOCATORS = ('jemalloc', 'tcmalloc', 'mimalloc')


def _glibc() -> Optional[ctypes.CDLL]:
    """glibc's C library, or None (another platform or C library)."""
    if not sys.platform.startswith('linux'):
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
    """Make glibc malloc keep freed memory for reuse (module docstring); returns a line
    saying what was done, or why nothing was (another allocator preloaded, the user's own
    ``MALLOC_*_`` or ``GLIBC_TUNABLES`` malloc settings, not glibc)."""
    preloaded = os.environ.get('LD_PRELOAD', '')
    for name in _OTHER_ALLOCATORS:
        if name in preloaded:
            return f'malloc: {name} is preloaded (LD_PRELOAD); left as it is'
    own = [key for key in _USER_SETTINGS if key in os.environ]
    if 'glibc.malloc' in os.environ.get('GLIBC_TUNABLES', ''):
        own.append('GLIBC_TUNABLES')
    if own:
        return f'malloc: settings from the environment ({", ".join(own)}) left as they are'
    libc = _glibc()
    if libc is None:
        return 'malloc: not glibc; left as it is'
    settings = (('M_MMAP_THRESHOLD', M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD),
                ('M_TRIM_THRESHOLD', M_TRIM_THRESHOLD, -1))
    refused = [name for name, param, value in settings if not libc.mallopt(param, value)]
    if refused:
        return f'malloc: glibc refused {", ".join(refused)}'
    return (f'malloc: freed memory kept for reuse (glibc M_MMAP_THRESHOLD '
            f'{MAX_MMAP_THRESHOLD >> 20} MiB, M_TRIM_THRESHOLD -1)')
