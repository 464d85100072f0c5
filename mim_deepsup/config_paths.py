"""Where the package's configs are, for configs that inherit ours from anywhere.

A wheel carries the configs as OpenMMLab packages do, in ``mim_deepsup/.mim/configs``; a
checkout (an editable install) has them in ``configs/`` beside the package. A config outside
this repository inherits one by name::

    _base_ = __import__('mim_deepsup').config_path('deepmim/deepmim_vit-tiny-p4_1xb32-20e_demo.py')

mmengine evaluates ``_base_`` before anything else in the file, so this line also imports
the package (registering our components) before the base is read: it works with any entry
point (ours, mmpretrain's and mmsegmentation's ``tools/train.py``, ``mim train``). Why not
``mim_deepsup::``: docs/getting_started.md, "From your own project".
"""
import difflib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# a wheel: the configs inside the package; a checkout: configs/ next to the package
SHIPPED, CHECKOUT = PACKAGE_DIR / '.mim' / 'configs', PACKAGE_DIR.parent / 'configs'


def config_root() -> Path:
    """The folder holding the configs: the wheel's ``.mim/configs``, else the checkout's
    ``configs/``."""
    if SHIPPED.is_dir():
        return SHIPPED
    if CHECKOUT.is_dir() and (PACKAGE_DIR.parent / 'pyproject.toml').is_file():
        return CHECKOUT
    raise FileNotFoundError(
        f'no configs in {SHIPPED} or {CHECKOUT}: mim-deepsup is installed without its '
        f'configs (build the wheel from the repository: pip install .)')


def config_path(name: str) -> str:
    """The absolute path of config ``name`` (``'<method>/<file>.py'``, relative to the
    configs folder, as in the repository's ``configs/``).

    Raises:
        FileNotFoundError: no such config; the message names the path looked for and the
            closest names there are.
    """
    root = config_root()
    path = root / name
    if not path.is_file():
        known = sorted(str(p.relative_to(root)) for p in root.rglob('*.py'))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f'; did you mean {" or ".join(close)}?' if close else (
            f'; the configs are {", ".join(sorted({k.split("/")[0] for k in known}))}/...')
        raise FileNotFoundError(f'mim_deepsup config {name!r}: no file {path}{hint}')
    return str(path)
