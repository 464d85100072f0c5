"""Build hook: the wheel carries the configs, the model index and the training tools.

OpenMMLab packages ship these inside the package, in ``<package>/.mim/`` (what
``mim train``, ``mim search`` and the package's own config lookup read). In the repository
``configs/`` stays the one copy people edit: the build copies it into the wheel, nothing
is copied in the source tree. An editable install reads ``configs/`` from the checkout
(:mod:`mim_deepsup.config_paths`). Everything else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# what goes into mim_deepsup/.mim (paths in the repository and in .mim): the configs, the
# model index, and the tools that need only the package (`mim train`, `mim run`)
TOOLS = ['train.py', 'test.py', 'convert_checkpoint.py', 'make_demo_data.py']
MIM_FILES = ['configs', 'model-index.yml'] + [f'tools/{name}' for name in TOOLS]


class BuildWithMimFiles(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into ``mim_deepsup/.mim``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):  # the checkout's own files are read
            return
        mim = Path(self.build_lib, 'mim_deepsup', '.mim')
        shutil.rmtree(mim, ignore_errors=True)  # nothing left from an earlier build
        for name in MIM_FILES:
            src, dst = ROOT / name, mim / name
            if not src.exists():
                raise FileNotFoundError(f'setup.py: {src} (listed in MIM_FILES) is missing')
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns('__pycache__', '*.py[co]'))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={'build_py': BuildWithMimFiles})
