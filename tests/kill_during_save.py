"""Run tools/train.py and SIGKILL the process at one point of its 2nd checkpoint save.

    python tests/kill_during_save.py POINT CONFIG [train.py args...]

POINT is where the kill lands:
    checkpoint-write   halfway through writing the checkpoint file's bytes
    before-record      after the checkpoint is in place, before last_checkpoint is updated
    record-write       halfway through writing last_checkpoint
    before-delete      after last_checkpoint, before the outdated checkpoint is deleted
Used by tests/test_faults.py; the process never returns normally from the 2nd save.
"""
import io
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmengine.fileio import LocalBackend  # noqa: E402

from mim_deepsup import fileio  # noqa: E402
from mim_deepsup.engine.hooks import atomic_checkpoint_hook as hook_module  # noqa: E402


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def on_second(counter, predicate):
    """A function that counts calls matching ``predicate`` and is true on the 2nd."""
    def second(*args):
        if not predicate(*args):
            return False
        counter.append(args)
        return len(counter) == 2
    return second


def main():
    point, argv = sys.argv[1], sys.argv[2:]
    if point == 'checkpoint-write':
        is_checkpoint = on_second([], lambda path: str(path).endswith('.pth'))
        put, write = LocalBackend.put, fileio.atomic_write

        def half_put(self, obj, filepath):  # mmengine's CheckpointHook writes in place
            if is_checkpoint(filepath):
                with open(filepath, 'wb') as f:
                    f.write(obj[:len(obj) // 2])
                die()
            return put(self, obj, filepath)

        def half_write(path, writer):  # AtomicCheckpointHook's backend: a temporary file
            if not is_checkpoint(path):
                return write(path, writer)

            def half(f):
                buffer = io.BytesIO()
                writer(buffer)
                f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
                f.flush()
                die()
            return write(path, half)
        LocalBackend.put, fileio.atomic_write = half_put, half_write
    elif point in ('before-record', 'record-write'):
        write, second = hook_module.atomic_write, on_second([], lambda path, _: True)

        def killing_write(path, writer):
            if not second(path, writer):
                return write(path, writer)
            if point == 'before-record':
                die()

            def half(f):
                f.write(b'/half/a/path')
                f.flush()
                die()
            return write(path, half)
        hook_module.atomic_write = killing_write
    elif point == 'before-delete':
        remove = os.remove

        def killing_remove(path):
            if str(path).endswith('.pth') and not os.path.basename(path).startswith('.'):
                die()
            return remove(path)
        os.remove = killing_remove
    else:
        raise SystemExit(f'unknown kill point {point!r}')
    from tools.train import main as train
    train(argv)


if __name__ == '__main__':
    main()
