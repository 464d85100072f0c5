"""keep_freed_memory: the mallopt settings it makes, in order, and a user's own allocator
settings left alone."""
import pytest

from mim_deepsup.benchmarking import cpu_tuning

CHECKED = cpu_tuning._USER_SETTINGS + ('GLIBC_TUNABLES', 'LD_PRELOAD')


class FakeLibc:
    """Records mallopt calls; refuses the parameter values in ``refused``."""

    def __init__(self, refused=()):
        self.calls, self.refused = [], set(refused)

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return int((param, value) not in self.refused)


def clean_environment(monkeypatch):
    for key in CHECKED:
        monkeypatch.delenv(key, raising=False)


def test_freed_memory_is_kept_by_raising_the_mmap_threshold_then_never_trimming(monkeypatch):
    clean_environment(monkeypatch)
    libc = FakeLibc()
    monkeypatch.setattr(cpu_tuning, '_glibc', lambda: libc)
    done = cpu_tuning.keep_freed_memory()
    # the mmap threshold first: the trim threshold alone would freeze glibc's adaptive one
    assert libc.calls == [(cpu_tuning.M_MMAP_THRESHOLD, 1 << 30),
                          (cpu_tuning.M_TRIM_THRESHOLD, -1)]
    assert done == ('malloc: freed memory kept for reuse (glibc M_MMAP_THRESHOLD 1024 MiB, '
                    'M_TRIM_THRESHOLD -1)')


def test_a_refused_1_gib_threshold_falls_back_to_32_mib(monkeypatch):
    clean_environment(monkeypatch)
    libc = FakeLibc(refused={(cpu_tuning.M_MMAP_THRESHOLD, 1 << 30)})
    monkeypatch.setattr(cpu_tuning, '_glibc', lambda: libc)
    assert '32 MiB' in cpu_tuning.keep_freed_memory()
    assert libc.calls[1:] == [(cpu_tuning.M_MMAP_THRESHOLD, 32 << 20),
                              (cpu_tuning.M_TRIM_THRESHOLD, -1)]


def test_not_glibc_changes_nothing(monkeypatch):
    clean_environment(monkeypatch)
    monkeypatch.setattr(cpu_tuning, '_glibc', lambda: None)
    assert cpu_tuning.keep_freed_memory() == 'malloc: not glibc on 64-bit Linux; left as it is'


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

    monkeypatch.setattr(cpu_tuning, '_glibc', refuse)
    clean_environment(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = cpu_tuning.keep_freed_memory()
    assert expected in done and 'left as' in done
