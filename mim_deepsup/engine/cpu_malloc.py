"""Keep the memory a training step frees for the next step (glibc malloc on Linux).

With glibc's defaults, a CPU training step gives most of its activation memory back to the
kernel when it frees it, and takes it back page by page, each page faulted in and zeroed,
in the next step: ViT-B DeepMIM at batch 8 faulted in 0.5-1.4 GB per step, and its fp32
step took 8.9-9.4 s instead of 8.0-8.2 s, varying more from step to step. Two ``mallopt``
settings stop that (see docs/performance.md, "Freed memory kept in the process"):

- ``M_MMAP_THRESHOLD`` raised to 1 GiB (or, where glibc refuses that, to 32 MiB, the
  documented maximum on 64-bit): blocks up to it come from the heap, which keeps freed
  blocks for reuse, instead of each having a mapping of its own, unmapped when freed;
- ``M_TRIM_THRESHOLD`` = -1: the heap is never shrunk.

The process then holds its peak memory for its whole life, as PyTorch's CUDA caching
allocator does on a GPU. Nothing but where memory comes from changes.
"""
import ctypes
import os
import sys
from typing import Optional

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
    """Make glibc malloc keep freed memory for reuse (module docstring); returns a line
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
