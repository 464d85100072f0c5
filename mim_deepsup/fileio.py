"""Writing files so that an interrupted run never leaves a half-written one."""
import os
import os.path as osp
import tempfile
from typing import BinaryIO, Callable


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place
    (a rename within one folder is atomic): ``path`` is either the old file or the whole
    new one. The file gets the mode ``open`` would give it (``mkstemp`` makes it 0600)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix='.partial-', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
