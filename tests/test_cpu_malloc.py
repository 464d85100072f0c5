"""keep_freed_memory: freed blocks are reused instead of faulted in again, and a user's
own allocator settings are left alone."""
import os
import subprocess
import sys

import pytest

from mim_deepsup.engine import cpu_malloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# pages faulted in by the last of 5 rounds of: 20 tensors of 24 to 1 MiB written, then
# freed (activations are freed in about this order: backward frees the last ones first)
SIZES_MIB = (24, 16, 8, 4, 1) * 4
PROBE = f'''
import resource, sys
import torch
from mim_deepsup.engine.cpu_malloc import keep_freed_memory
if sys.argv[1] == 'keep':
    print(keep_freed_memory(), file=sys.stderr)
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [torch.ones(mib * 2**18) for mib in {SIZES_MIB}]
    del blocks
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
'''


def _faults_of_a_round(mode: str) -> int:
    env = {k: v for k, v in os.environ.items()
           if k not in cpu_malloc._USER_SETTINGS + ('GLIBC_TUNABLES', 'LD_PRELOAD')}
    out = subprocess.run([sys.executable, '-c', PROBE, mode], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(cpu_malloc._glibc() is None, reason='glibc only')
def test_freed_memory_is_reused_without_page_faults():
    pages = sum(SIZES_MIB) * 2**20 // os.sysconf('SC_PAGE_SIZE')  # 54272 of 4 KiB
    # glibc's defaults give the memory back and fault every page in again, every round
    assert _faults_of_a_round('default') > 0.9 * pages
    # kept: the last round reuses the heap the first one grew
    assert _faults_of_a_round('keep') < 0.02 * pages


@pytest.mark.parametrize('env, expected', [
    ({'LD_PRELOAD': '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'}, 'jemalloc is preloaded'),
    ({'MALLOC_TRIM_THRESHOLD_': '0'}, 'MALLOC_TRIM_THRESHOLD_'),
    ({'GLIBC_TUNABLES': 'glibc.malloc.mmap_threshold=65536'}, 'GLIBC_TUNABLES'),
])
def test_user_allocator_settings_are_left_alone(monkeypatch, env, expected):
    def refuse(*args):
        raise AssertionError('mallopt must not be called')

    monkeypatch.setattr(cpu_malloc, '_glibc', refuse)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = cpu_malloc.keep_freed_memory()
    assert expected in done and 'left as' in done
