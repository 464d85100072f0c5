"""Writing files so that an interrupted run never leaves a half-written one."""
import os
import os.path as osp
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

from mmengine.fileio import LocalBackend, register_backend

# the checkout the package runs from (installed editable): where configs/ and docs/ are
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place
    (a rename within one folder is atomic): ``path`` is either the old file or the whole
    new one, after a process kill and (with the fsyncs) a machine crash as well. The file
    gets the mode ``open`` would give it (``mkstemp`` makes it 0600)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix='.partial-', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points to it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        _fsync_folder(directory)  # and the rename too, before anything is deleted
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_folder(root: str, fill: Callable[[str], object], prefix: str = '.partial-') -> None:
    """Call ``fill(folder)`` on a new temporary folder beside ``root``, then put it in
    ``root``'s place (an existing ``root`` is removed first): an interrupted write leaves no
    half-written ``root``, and its temporary folder is removed."""
    root = osp.abspath(root)
    os.makedirs(osp.dirname(root), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=osp.dirname(root))
    try:
        fill(tmp)
        if osp.isdir(root):
            shutil.rmtree(root)
        os.rename(tmp, root)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)


def _fsync_folder(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where folders cannot be
    opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@register_backend('local_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put``/``put_text`` go through
    :func:`atomic_write`: an interrupted write leaves the old file (or none), never part of
    the new one. Select it with ``backend_args=dict(backend='local_atomic')``;
    :class:`~mim_deepsup.engine.AtomicCheckpointHook` does for local checkpoint folders."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(str(filepath), lambda f: f.write(obj))

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)
