"""keep_freed_memory: freed blocks are reused instead of faulted in again, and a user's
own allocator settings are left alone."""
import os
import subprocess
import sys

import pytest

from mim_deepsup.engine import cpu_malloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# pages faulted in by the last of 5 rounds of: 20 blocks of 24 to 1 MiB malloc'ed, written
# and freed, straight through libc (a step's tensors interleave small allocations of their
# own, which with the defaults may or may not sit above the freed blocks and so stop the
# heap's trimming from run to run; seen: 0, 36 832 or 40 160 faults in the last round).
# Each group of 53 MiB is more than the 48 MiB that glibc's adaptive trim threshold
# reaches after blocks of 24 MiB, so with the defaults the heap shrinks every round.
SIZES_MIB = (24, 16, 8, 4, 1) * 4
PROBE = f'''
import ctypes, resource, sys
from mim_deepsup.engine.cpu_malloc import keep_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == 'keep':
    print(keep_freed_memory(), file=sys.stderr)
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(mib << 20) for mib in {SIZES_MIB}]
    for block, mib in zip(blocks, {SIZES_MIB}):
        ctypes.memset(block, 1, mib << 20)
    for block in blocks:
        libc.free(block)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
'''


CHECKED = cpu_malloc._USER_SETTINGS + ('GLIBC_TUNABLES', 'LD_PRELOAD')


def _faults_of_a_round(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in CHECKED}
    out = subprocess.run([sys.executable, '-c', PROBE, mode], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(cpu_malloc._glibc() is None, reason='glibc only')
def test_freed_memory_is_reused_without_page_faults():
    # glibc's defaults give the memory back and fault it in again every round: 54240
    # faults of 4 KiB pages (fewer where transparent huge pages are always on: one per
    # 2 MiB); kept, the last round reuses the heap the first one grew: none
    default, kept = _faults_of_a_round('default'), _faults_of_a_round('keep')
    assert default > 50 and kept * 50 < default, (default, kept)


@pytest.mark.parametrize('env, expected', [
    ({'LD_PRELOAD': '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'}, 'jemalloc is preloaded'),
    ({'MALLOC_TRIM_THRESHOLD_': '0'}, 'MALLOC_TRIM_THRESHOLD_'),
    ({'GLIBC_TUNABLES': 'glibc.malloc.mmap_threshold=65536'}, 'GLIBC_TUNABLES'),
    ({'GLIBC_TUNABLES': 'glibc.malloc.trim_threshold=0:glibc.cpu.x86_shstk=off'},
     'GLIBC_TUNABLES'),
])
def test_user_allocator_settings_are_left_alone(monkeypatch, env, expected):
    def refuse(*args):
        raise AssertionError('mallopt must not be called')

    monkeypatch.setattr(cpu_malloc, '_glibc', refuse)
    for key in CHECKED:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = cpu_malloc.keep_freed_memory()
    assert expected in done and 'left as' in done
