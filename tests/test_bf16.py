"""bf16 autocast through BF16OptimWrapper: every tiny config trains with finite losses
within a stated tolerance of fp32, and --amp selects it where AmpOptimWrapper cannot run."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import OPTIM_WRAPPERS

from mim_deepsup.testing import ROOT, build_model, tiny_runner_cfg

CONFIGS = ['mae/mae', 'deepmim/deepmim', 'ddae/ddae', 'lut/lut', 'beitv2/beitv2',
           'deepmim/deepmim_beitv2', 'ddae/ddae_beitv2', 'ddae/ddae-lut']
# bf16 keeps 8 bits of mantissa: the tiny models' losses moved by at most 0.4 % relative
# (BEiT-v2's token losses; MAE-family ones by 0.1 % or less); allowed: 1 %
TOLERANCE = 0.01


def batch(cfg, demo_data):
    """One real batch of 8 from the config's own pipeline (views, masks, ...)."""
    loader = cfg.train_dataloader
    loader.update(batch_size=8, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = demo_data['imagenet']
    return next(iter(Runner.build_dataloader(loader, seed=0)))


@pytest.mark.parametrize('name', CONFIGS)
def test_one_step_in_bf16_is_finite_and_close_to_fp32(name, demo_data):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{name}_vit-tiny-p4_1xb32-20e_demo.py'))
    model = build_model(cfg.model)
    data = model.data_preprocessor(batch(cfg, demo_data), True)
    wrapper = OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper',
                                        optimizer=torch.optim.SGD(model.parameters(), 0.0)))
    losses = {}
    for precision in ('fp32', 'bf16'):
        torch.manual_seed(0)  # the same masks
        if precision == 'bf16':
            with wrapper.optim_context(model):
                out = model(**data, mode='loss')
        else:
            out = model(**data, mode='loss')
        losses[precision] = {k: v.float().item() for k, v in out.items() if 'loss' in k}
    assert losses['bf16'].keys() == losses['fp32'].keys()
    for key, value in losses['bf16'].items():
        reference = losses['fp32'][key]
        assert math.isfinite(value), key
        assert abs(value - reference) <= TOLERANCE * abs(reference) + 1e-3, (key, value,
                                                                            reference)


def test_runner_trains_in_bf16_and_keeps_fp32_weights(demo_data, tmp_path):
    cfg = tiny_runner_cfg(demo_data, tmp_path, max_epochs=1,
                          config=osp.join(ROOT, 'configs', 'lut',
                                          'lut_vit-tiny-p4_1xb32-20e_demo.py'))
    cfg.optim_wrapper.type = 'BF16OptimWrapper'
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert all(p.dtype == torch.float32 for p in runner.model.parameters())  # autocast only
    teacher = runner.model.teacher['backbone']
    assert all(p.dtype == torch.float32 for p in teacher.parameters())


def test_amp_flag_selects_bf16_where_amp_optim_wrapper_cannot_run(monkeypatch):
    from tools.train import apply_args, parse_args
    config = osp.join(ROOT, 'configs', 'mae', 'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = apply_args(Config.fromfile(config), parse_args([config, '--amp']))
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = apply_args(Config.fromfile(config), parse_args([config, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale
