"""From a project of one's own: the wheel installed where this checkout is not importable,
user configs inheriting ours by name, trained with mmpretrain's, openmim's and
mmsegmentation's entry points, and the encoder loaded in timm.

The config files and commands are those of docs/getting_started.md, "From your own
project": the test writes the section's ``# <file>.py`` blocks and runs its bash blocks (all
but the one that installs), so the docs show what ran.
"""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mim_deepsup.testing import ROOT

pytestmark = pytest.mark.slow

DOC = Path(ROOT, 'docs', 'getting_started.md')
# what a release is built from (the sdist's content)
RELEASE = ['pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'LICENSE',
           'model-index.yml', 'mim_deepsup', 'configs', 'tools']
# loads both exported encoders with the timm calls the converter printed, and compares
# their features with our backbone's (student and EMA teacher) from the same checkpoint
COMPARE = '''
import sys, timm, torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS
import mim_deepsup
cfg = Config.fromfile('work_dirs/my_ddae/my_ddae.py')
model = MODELS.build(cfg.model).eval()
load_checkpoint(model, 'work_dirs/my_ddae/epoch_1.pth', map_location='cpu')
x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
for call, backbone in zip(sys.argv[1:], [model.backbone, model.teacher['backbone']]):
    vit = eval(call).eval()
    with torch.no_grad():
        diff = (vit.forward_features(x) - backbone(x, mask=None)[0]).abs().max()
        print(f'max difference: {float(diff)}')
'''


def doc_section():
    """The "From your own project" section's files ({name: text}) and bash blocks."""
    text = DOC.read_text()
    section = text.split('## From your own project\n', 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```(\w+)\n(.*?)```', section, flags=re.S)
    files = {m.group(1): body for lang, body in blocks if lang == 'python'
             for m in [re.match(r'# (\S+\.py)\n', body)] if m}
    commands = [body for lang, body in blocks if lang == 'bash' and 'pip install' not in body]
    return files, commands


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f'{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return result.stdout


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A folder with the doc's configs, and a Python whose mim_deepsup is the wheel's."""
    tmp = tmp_path_factory.mktemp('outside')
    for name in RELEASE:  # build from a copy: the checkout gets no build/ folder
        src, dst = Path(ROOT, name), tmp / 'src' / name
        ignore = shutil.ignore_patterns('__pycache__', '.mim', '*.egg-info')
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
         '-w', str(tmp / 'dist'), str(tmp / 'src')])
    wheel = next((tmp / 'dist').glob('mim_deepsup-*.whl'))
    # a fresh venv holding the wheel; the other packages are this environment's (a path
    # line: .pth files in that folder are not run, so the checkout's editable install is
    # not found from there)
    venv = tmp / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', str(venv)])
    python = str(venv / 'bin' / 'python')
    site = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    Path(site.strip(), 'outer.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps',
         str(wheel)])
    mim = venv / 'bin' / 'mim'  # openmim's command, run by the venv's Python
    mim.write_text(f'#!/bin/sh\nexec "{python}" -m mim "$@"\n')
    mim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PATH=f'{venv / "bin"}:{env["PATH"]}', PYTHONNOUSERSITE='1')
    work = tmp / 'project'
    work.mkdir()
    files, commands = doc_section()
    for name, body in files.items():
        (work / name).write_text(body)
    return dict(python=python, env=env, work=work, files=files, commands=commands)


def test_the_package_is_the_wheel_with_its_configs(project):
    out = run([project['python'], '-c', 'import mim_deepsup; print(mim_deepsup.__file__); '
               'print(mim_deepsup.config_path("ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py"))'],
              cwd=project['work'], env=project['env'])
    package, config = out.split()
    assert not package.startswith(ROOT) and 'venv' in package
    assert config.startswith(os.path.dirname(package)) and '/.mim/configs/ddae/' in config
    result = subprocess.run(
        [project['python'], '-c', 'import mim_deepsup; mim_deepsup.config_path("ddae/x.py")'],
        capture_output=True, text=True, cwd=project['work'], env=project['env'])
    assert "mim_deepsup config 'ddae/x.py': no file" in result.stderr
    assert '.mim/configs/ddae/x.py' in result.stderr


def test_the_docs_commands_train_convert_and_load_in_timm(project):
    files, commands = project['files'], project['commands']
    assert {'my_ddae.py', 'my_lut.py', 'my_upernet.py'} <= set(files) and commands
    out = ''.join(run(['bash', '-euo', 'pipefail', '-c', body], cwd=project['work'],
                      env=project['env']) for body in commands)
    assert 'config id: deepmim_vit-tiny-p4_1xb32-20e_demo' in out  # mim search: the index
    work = project['work'] / 'work_dirs'
    # mmpretrain's script and `mim train mmpretrain` trained the user configs, ours the
    # shipped config found by its file name
    for name in ('my_ddae', 'my_lut', 'deepmim'):
        assert (work / name / 'epoch_1.pth').is_file(), name
    assert (work / 'deepmim' / 'deepmim_vit-tiny-p4_1xb32-20e_demo.py').is_file()
    # mmseg's script fine-tuned the UperNet from the converted encoder
    assert (work / 'my_upernet' / 'iter_4.pth').is_file()
    logs = ''.join(p.read_text() for p in (work / 'my_upernet').glob('*/*.log'))
    assert 'work_dirs/my_ddae/upernet_init.pth' in logs and 'mIoU' in logs
    # timm loads the student and the EMA teacher with the calls the converter printed
    calls = re.findall(r'^timm: (.*)$', out, flags=re.M)
    assert len(calls) == 2
    diffs = re.findall(r'^max difference: (\S+)$', run(
        [project['python'], '-c', COMPARE, *calls], cwd=project['work'], env=project['env']),
        flags=re.M)
    assert len(diffs) == 2 and all(float(d) <= 1e-5 for d in diffs), diffs
