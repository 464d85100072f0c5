"""Inheriting our configs by name: mim_deepsup.config_path in a config's ``_base_``."""
import pytest
from mmengine.config import Config

import mim_deepsup
from mim_deepsup import config_paths
from mim_deepsup.testing import ROOT

DDAE = 'ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py'


def write(folder, text):
    path = folder / 'my_config.py'
    path.write_text(text)
    return str(path)


def test_a_config_elsewhere_inherits_ours_as_a_relative_base_would(tmp_path):
    mine = write(tmp_path, f"_base_ = __import__('mim_deepsup').config_path({DDAE!r})\n"
                           "train_cfg = dict(max_epochs=1)\n")
    ours = Config.fromfile(f'{ROOT}/configs/{DDAE}')
    cfg = Config.fromfile(mine)
    assert cfg.train_cfg.max_epochs == 1 and ours.train_cfg.max_epochs == 20
    cfg.train_cfg.max_epochs = 20
    assert cfg.to_dict() == ours.to_dict()  # nothing else differs: no _scope_ added


def test_a_bad_name_names_the_file_it_looked_for_and_the_closest(tmp_path):
    mine = write(tmp_path, "_base_ = __import__('mim_deepsup').config_path("
                           "'ddae/ddae_vit-tiny-p4_1xb32-2e_demo.py')\n")
    with pytest.raises(FileNotFoundError) as error:
        Config.fromfile(mine)
    message = str(error.value)
    assert message.startswith("mim_deepsup config 'ddae/ddae_vit-tiny-p4_1xb32-2e_demo.py': "
                              f'no file {ROOT}/configs/ddae/ddae_vit-tiny-p4_1xb32-2e_demo.py')
    assert f'did you mean {DDAE}' in message
    with pytest.raises(FileNotFoundError, match=r'the configs are _base_, beitv2, ddae, '):
        mim_deepsup.config_path('nothing/like/this.py')


def test_the_wheel_copy_comes_first_then_the_checkout(tmp_path, monkeypatch):
    assert mim_deepsup.config_path(DDAE) == f'{ROOT}/configs/{DDAE}'  # this checkout
    shipped = tmp_path / '.mim' / 'configs'
    (shipped / 'ddae').mkdir(parents=True)
    (shipped / DDAE).write_text('x = 1\n')
    monkeypatch.setattr(config_paths, 'SHIPPED', shipped)
    assert mim_deepsup.config_path(DDAE) == str(shipped / DDAE)
    monkeypatch.setattr(config_paths, 'SHIPPED', tmp_path / 'none')
    monkeypatch.setattr(config_paths, 'CHECKOUT', tmp_path / 'none')
    with pytest.raises(FileNotFoundError, match='installed without its configs'):
        mim_deepsup.config_path(DDAE)
