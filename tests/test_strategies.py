"""FSDP and DeepSpeed through mmengine's strategies (docs/distributed.md).

The ViT-L configs load, differ from their AMP parent in the strategy alone (and, for
DeepSpeed, the optimizer wrapper it requires) and build their model. FSDP wraps the real
ViT-L model one unit per encoder block and decoder (a 1-process gloo group), and trains,
checkpoints and converts the tiny DeepMIM in 2 CPU processes through tools/dist_train.sh.
The EMA teacher's update under FSDP (EMATeacherHook gathers the shards) and resuming an
FSDP run (Torch2FSDPStrategy: mmengine 0.10.7 loads optimizer state with torch 2.0's
argument order, and its saved optimizer state drops the wrapper's loss scaler) are tested
too. DeepSpeed is not installed here: its config is checked
against mmengine's signatures only.

Run as a script, this file is the worker of the multi-process tests.
"""
import copy
import inspect
import json
import math
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch

# FSDP and DeepSpeed in 2 CPU processes, ViT-L builds
pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'deepmim')
AMP = osp.join(CONFIGS, 'deepmim_mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py')
FSDP_CFG = osp.join(CONFIGS, 'deepmim_mae_vit-large-p16_8xb512-fsdp-coslr-1600e_in1k.py')
DS_CFG = osp.join(CONFIGS, 'deepmim_mae_vit-large-p16_8xb512-deepspeed-coslr-1600e_in1k.py')
TINY = {name: osp.join(ROOT, 'configs', name.split('/')[0],
                       f'{name.split("/")[1]}_vit-tiny-p4_1xb32-20e_demo.py')
        for name in ('deepmim/deepmim', 'ddae/ddae', 'lut/lut')}
# the tiny ViT's blocks hold ~50k parameters, its backbone outside them ~8k: this threshold
# puts them in the same places as the config's 1e7 puts ViT-L's (blocks 12.6M, rest ~1M)
TINY_MIN_NUM_PARAMS = 40000


def tiny_fsdp_strategy():
    """The FSDP config's strategy, sized for the tiny ViT and placed on the CPU."""
    from mmengine.config import Config
    strategy = copy.deepcopy(Config.fromfile(FSDP_CFG).strategy)
    strategy.model_wrapper.auto_wrap_policy.min_num_params = TINY_MIN_NUM_PARAMS
    strategy.model_wrapper.device_id = 'cpu'  # mmengine passes LOCAL_RANK: a CUDA index
    return strategy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(nproc, *args, timeout=600):
    """``python -m torch.distributed.run`` on a free port (gloo on the CPU)."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
           f'--master_port={free_port()}', *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              [ROOT, os.environ.get('PYTHONPATH', '')])))


# ---------------------------------------------------------------- configs, no processes


def differing(cfg, parent, prefix=''):
    """Dotted keys whose values differ between two configs (dicts compared key by key)."""
    keys = set(cfg) | set(parent)
    out = set()
    for key in keys:
        a, b = cfg.get(key, '<absent>'), parent.get(key, '<absent>')
        if isinstance(a, dict) and isinstance(b, dict):
            out |= differing(a, b, f'{prefix}{key}.')
        elif a != b:
            out.add(f'{prefix}{key}')
    return out


def plain(cfg):
    """A config as plain dicts, without its file name."""
    return {k: v for k, v in cfg.to_dict().items() if k != 'filename'}


def test_fsdp_config_changes_only_the_strategy():
    from mmengine.config import Config
    from mmengine.registry import FUNCTIONS
    from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy
    cfg, parent = Config.fromfile(FSDP_CFG), Config.fromfile(AMP)
    assert {k.split('.')[0] for k in differing(plain(cfg), plain(parent))
            if k != 'optim_wrapper.optimizer.fused'} == {'strategy', 'runner_type'}
    assert cfg.optim_wrapper.optimizer.fused is False  # fused + ShardedGradScaler: refused
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy.type == 'Torch2FSDPStrategy'
    wrapper = cfg.strategy.model_wrapper
    assert wrapper.use_orig_params is True
    # mmengine resolves the policy by its dotted name (FUNCTIONS.get, then import)
    assert FUNCTIONS.get(wrapper.auto_wrap_policy.type) is size_based_auto_wrap_policy
    # the optimizer wrapper stays AmpOptimWrapper, to which FSDPStrategy adds use_fsdp
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_fsdp_strategy_is_built_without_a_process_group(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import STRATEGIES
    from torch.distributed.fsdp import StateDictType
    strategy = STRATEGIES.build(dict(Config.fromfile(FSDP_CFG).strategy,
                                     work_dir=str(tmp_path)))
    assert type(strategy).__name__ == 'Torch2FSDPStrategy' and not strategy.distributed
    # consolidated checkpoints: one Runner file written by rank 0
    assert strategy.state_dict_type == StateDictType.FULL_STATE_DICT
    assert strategy.state_dict_config.rank0_only and strategy.state_dict_config.offload_to_cpu


def test_fsdp_strategy_refuses_a_fused_optimizer_with_fp16_loss_scaling(tmp_path):
    """GradScaler.step checks a fused optimizer's gradients for inf per process (the
    sharded scaler agrees across processes only in unscale_): refused, naming the key."""
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import STRATEGIES
    from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

    class Scaled(OptimWrapper):  # AmpOptimWrapper(use_fsdp=True)'s scaler, on the CPU
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.loss_scaler = ShardedGradScaler('cpu')

    strategy = STRATEGIES.build(dict(Config.fromfile(FSDP_CFG).strategy,
                                     work_dir=str(tmp_path)))
    model = torch.nn.Linear(4, 2)
    for fused, scaled in ((True, True), (False, True), (True, False)):
        cfg = dict(type=Scaled if scaled else OptimWrapper,
                   optimizer=dict(type='AdamW', lr=1e-3, fused=fused))
        if fused and scaled:
            with pytest.raises(ValueError, match='optim_wrapper.optimizer.fused=True'):
                strategy.build_optim_wrapper(cfg, model)
        else:
            strategy.build_optim_wrapper(cfg, model)


def test_deepspeed_config_is_what_mmengines_strategy_and_wrapper_take():
    from mmengine._strategy.deepspeed import DeepSpeedOptimWrapper, DeepSpeedStrategy
    from mmengine.config import Config
    cfg, parent = Config.fromfile(DS_CFG), Config.fromfile(AMP)
    assert {k.split('.')[0] for k in differing(plain(cfg), plain(parent))} == {
        'strategy', 'runner_type', 'optim_wrapper'}
    assert cfg.runner_type == 'FlexibleRunner'

    strategy = cfg.strategy.to_dict()
    assert strategy.pop('type') == 'DeepSpeedStrategy'
    accepted = set(inspect.signature(DeepSpeedStrategy.__init__).parameters) - {'self',
                                                                                 'kwargs'}
    assert set(strategy) <= accepted, set(strategy) - accepted
    assert strategy['zero_optimization']['stage'] == 2
    # DeepSpeed's own fp16/bf16 modes cast the whole module, EMA teacher and pixel targets
    # included, to 16 bits; torch_autocast (DeepSpeed >= 0.17.2) keeps it fp32 and runs the
    # forward under autocast, like AmpOptimWrapper
    assert 'fp16' not in strategy and 'bf16' not in strategy and 'amp' not in strategy
    assert strategy['config']['torch_autocast'] == dict(enabled=True, dtype='bfloat16')

    # DeepSpeedOptimWrapper takes the optimizer and nothing else (no loss_scale); the
    # optimizer, its parameter-wise settings and constructor stay the parent's
    wrapper = cfg.optim_wrapper.to_dict()
    assert wrapper.pop('type') == 'DeepSpeedOptimWrapper'
    assert set(inspect.signature(DeepSpeedOptimWrapper.__init__).parameters) == {
        'self', 'optimizer'}
    for key in ('optimizer', 'paramwise_cfg', 'constructor'):
        assert wrapper.pop(key) == parent.optim_wrapper[key], key
    assert not wrapper, wrapper


def test_the_vit_large_model_builds_from_the_deepspeed_config():
    """ViT-L plus DeepMIM's three 512-d x 8 decoders (~3 s on 2 cores, 1.7 GB)."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import mim_deepsup  # noqa: F401
    model = MODELS.build(Config.fromfile(DS_CFG).model)
    assert len(model.backbone.layers) == 24 and model.backbone.embed_dims == 1024
    assert sorted(model.supervisions.deepmim.decoders.decoders) == ['l12', 'l16', 'l20']
    assert 400e6 < sum(p.numel() for p in model.parameters()) < 420e6


# ------------------------------------------------------- FSDP in real process groups (CPU)


def test_fsdp_wraps_the_vit_large_model_per_block_and_decoder(tmp_path):
    """The FSDP config's wrapper on the real ViT-L model, 1 gloo process: 24 block units,
    the final decoder and the 3 auxiliary decoders, not the backbone (entered through
    forward_taps, which would bypass FSDP's unsharding)."""
    out = tmp_path / 'units.json'
    run = torchrun(1, __file__, 'wrap_vit_large', str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    units = json.loads(out.read_text())
    blocks = [f'backbone.layers.{i}' for i in range(24)]
    decoders = ['neck'] + [f'supervisions.deepmim.decoders.decoders.l{b}' for b in (12, 16, 20)]
    assert units == [''] + blocks + decoders


@pytest.fixture(scope='module')
def fsdp_run(tmp_path_factory):
    """The tiny DeepMIM with the FSDP config's strategy: 1 epoch of 2 iterations (batch 8
    per process) in 2 CPU processes, launched by tools/dist_train.sh (FlexibleRunner)."""
    from mmengine.config import Config

    from mim_deepsup.datasets import make_demo_data
    tmp = tmp_path_factory.mktemp('fsdp')
    data = make_demo_data(str(tmp / 'data'), num_train=32, num_val=8, size=64)
    cfg = Config.fromfile(TINY['deepmim/deepmim'])
    cfg.strategy = tiny_fsdp_strategy()
    cfg.runner_type = 'FlexibleRunner'
    cfg.optim_wrapper.type = 'BF16OptimWrapper'  # AmpOptimWrapper refuses the CPU
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data['imagenet']
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0, diff_rank_seed=False)
    cfg.visualizer = dict(type='UniversalVisualizer', vis_backends=[])
    cfg_path = str(tmp / 'tiny_fsdp.py')
    cfg.dump(cfg_path)
    work_dir = tmp / 'work'
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    run = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), cfg_path, '2',
                          '--work-dir', str(work_dir)],
                         env=env, capture_output=True, text=True, timeout=600)
    return dict(run=run, cfg=cfg, cfg_path=cfg_path, work_dir=work_dir)


def test_fsdp_trains_the_tiny_deepmim_in_two_cpu_processes(fsdp_run):
    run = fsdp_run['run']
    assert run.returncode == 0, run.stderr[-3000:]
    log = (run.stdout + run.stderr)
    losses = [float(v) for v in re.findall(r'Epoch\(train\).*?\bloss: ([-\d.naif]+)', log)]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), losses
    # the optimizer was built on FSDP-wrapped blocks (mmengine logs each parameter's name)
    assert 'backbone.layers.0._fsdp_wrapped_module.' in log


def test_fsdp_checkpoint_is_one_runner_file_that_the_converter_reads(fsdp_run, tmp_path):
    from mmpretrain.registry import MODELS

    from mim_deepsup.checkpoints.backbone_converter import convert_checkpoint
    assert fsdp_run['run'].returncode == 0, fsdp_run['run'].stderr[-3000:]
    path = fsdp_run['work_dir'] / 'epoch_1.pth'
    assert path.is_file()  # one file by rank 0, not a directory of shards
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    # the unsharded model's names and shapes, no FSDP prefixes
    reference = MODELS.build(fsdp_run['cfg'].model).state_dict()
    state = ckpt['state_dict']
    assert state.keys() == reference.keys()
    assert all(state[k].shape == v.shape for k, v in reference.items())
    assert {'optimizer', 'param_schedulers', 'message_hub', 'random_state'} <= set(ckpt)
    result = convert_checkpoint(str(path), str(tmp_path / 'backbone.pth'))
    assert result['kept'] and all(k.startswith('backbone.') for k in result['kept'])


def test_fsdp_run_resumes_with_its_optimizer(fsdp_run):
    assert fsdp_run['run'].returncode == 0, fsdp_run['run'].stderr[-3000:]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    run = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
                          fsdp_run['cfg_path'], '2', '--work-dir', str(fsdp_run['work_dir']),
                          '--resume', '--cfg-options', 'train_cfg.max_epochs=2'],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (fsdp_run['work_dir'] / 'epoch_2.pth').is_file()


def test_fsdp_checkpoint_keeps_the_optim_wrappers_loss_scaler(tmp_path):
    """Torch2FSDPStrategy, 1 gloo process: the optimizer entry of a checkpoint holds the
    wrapper's loss scaler (and base_param_settings), which FSDP.optim_state_dict drops, and
    loading it gives a fresh wrapper the saved scale and growth tracker."""
    out = tmp_path / 'scaler.json'
    run = torchrun(1, __file__, 'fsdp_loss_scaler', str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {'state', 'param_groups', 'loss_scaler', 'base_param_settings'} <= set(
        result['saved_keys'])
    # one step at 1024 without an inf: the scale stays, the growth tracker counts it
    scaler = result['saved_scaler']
    assert scaler == result['scaler']
    assert (scaler['scale'], scaler['_growth_tracker']) == (1024.0, 1)
    assert result['file_scaler'] == scaler  # through torch.load(weights_only=True)
    # the fresh wrapper was built with scale 65536 and a fresh tracker
    assert result['restored_scaler'] == scaler
    assert result['restored_base_lr'] == result['saved_base_lr'] == 5e-4
    assert result['restored_steps'] == result['steps'] == [1.0] * 4


def test_ema_teacher_hook_updates_the_teacher_under_fsdp_in_two_processes(tmp_path):
    """DDAE, wrapped as docs/distributed.md says (the FSDP config's wrapper, the teacher in
    ``ignored_modules``: whole and replicated) in 2 processes: after a training step,
    EMATeacherHook must leave every teacher entry at lerp(teacher, student, 1 - m) of the
    gathered fp32 parameters, on both ranks."""
    out = tmp_path / 'ema'
    run = torchrun(2, __file__, 'ema_under_fsdp', str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    for rank in range(2):
        result = json.loads((tmp_path / f'ema{rank}.json').read_text())
        for name, error in result.items():
            assert error < 1e-6, (rank, name, error)


# ------------------------------------------------------------------ the workers (torchrun)


def _init_worker():
    import torch.distributed as dist
    from mmengine.registry import init_default_scope

    import mim_deepsup  # noqa: F401
    init_default_scope('mmpretrain')
    dist.init_process_group('gloo')
    return dist.get_rank(), dist.get_world_size()


def _fsdp_units(wrapped):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    return [name.replace('_fsdp_wrapped_module.', '') for name, m in wrapped.named_modules()
            if isinstance(m, FSDP)]


def wrap_vit_large(out):
    from mmengine.config import Config
    from mmengine.registry import MODEL_WRAPPERS
    from mmpretrain.registry import MODELS
    _init_worker()
    cfg = Config.fromfile(FSDP_CFG)
    model = MODELS.build(cfg.model)
    wrapper = dict(cfg.strategy.model_wrapper, type='MMFullyShardedDataParallel',
                   device_id='cpu')
    wrapped = MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model))
    with open(out, 'w') as f:
        json.dump(_fsdp_units(wrapped), f)


def _full_state(wrapped):
    """Every entry of the unsharded model, fp64 copies, on every rank."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    with FSDP.summon_full_params(wrapped, writeback=False):
        return {k.replace('_fsdp_wrapped_module.', ''): v.detach().double().clone()
                for k, v in wrapped.module.state_dict().items() if v.is_floating_point()}


def ema_under_fsdp(out):
    from types import SimpleNamespace

    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import MODEL_WRAPPERS
    from mmpretrain.registry import MODELS

    from mim_deepsup.engine.hooks import EMATeacherHook, TrainingProgressHook
    rank, world_size = _init_worker()
    errors = {}
    for name in ('ddae/ddae', ):
        torch.manual_seed(0)
        model = MODELS.build(Config.fromfile(TINY[name]).model)
        model.init_weights()
        model.train()
        buffers = {name for name, _ in model.named_buffers()}
        # docs/distributed.md: a teacher stays out of FSDP's units (replicated, whole)
        wrapper = dict(tiny_fsdp_strategy().model_wrapper, type='MMFullyShardedDataParallel',
                       ignored_modules=['teacher'])
        wrapped = MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model))
        optim = OptimWrapper(torch.optim.SGD(
            [p for p in wrapped.parameters() if p.requires_grad], lr=0.5))
        x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(rank))
        views = [x, x.flip(-1)] if model.num_views == 2 else x
        losses = wrapped(inputs=views, data_samples=None, mode='loss')
        optim.update_params(model.parse_losses(losses)[0])

        before = _full_state(wrapped)
        teacher = model.teacher
        weight = 1 - teacher.momentum(0.5)
        expected = {}
        for path in teacher.sources:
            prefix = f'teacher.ema.{path.replace(".", "__")}.'
            for key, value in before.items():
                if key.startswith(prefix):
                    student = before[path + '.' + key[len(prefix):]]
                    copied = key in buffers and not teacher.average_buffers
                    expected[key] = student if copied else value + weight * (student - value)
        runner = SimpleNamespace(model=wrapped, optim_wrapper=optim, iter=5, max_iters=10)
        progress = TrainingProgressHook()  # publishes t = 0.5, as in a run
        progress.before_train(runner)
        progress.before_train_iter(runner, batch_idx=0)
        EMATeacherHook().after_train_iter(runner, batch_idx=0)
        after = _full_state(wrapped)
        errors[name] = max((after[k] - v).abs().max().item() for k, v in expected.items())
    with open(f'{out}{rank}.json', 'w') as f:
        json.dump(errors, f)


def fsdp_loss_scaler(out):
    """One loss-scaled step of a tiny model prepared by Torch2FSDPStrategy (the tiny FSDP
    strategy), a checkpoint, and its optimizer entry loaded into a fresh strategy."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import STRATEGIES
    from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler
    _init_worker()
    work_dir = osp.dirname(out)

    class ScaledOptimWrapper(OptimWrapper):
        """AmpOptimWrapper's loss scaling and state dict, on the CPU (which it refuses),
        with FSDP's scaler, as FSDPStrategy gives AmpOptimWrapper (use_fsdp=True)."""

        def __init__(self, init_scale, **kwargs):
            super().__init__(**kwargs)
            self.loss_scaler = ShardedGradScaler('cpu', init_scale=init_scale)

        def backward(self, loss, **kwargs):
            self.loss_scaler.scale(loss).backward(**kwargs)
            self._inner_count += 1

        def step(self, **kwargs):
            self.loss_scaler.step(self.optimizer, **kwargs)
            self.loss_scaler.update()

        def state_dict(self):
            return dict(super().state_dict(), loss_scaler=self.loss_scaler.state_dict())

        def load_state_dict(self, state_dict):
            if 'loss_scaler' in state_dict:
                self.loss_scaler.load_state_dict(state_dict.pop('loss_scaler'))
            super().load_state_dict(state_dict)

    def prepared(init_scale):
        strategy = STRATEGIES.build(dict(tiny_fsdp_strategy(), work_dir=work_dir))
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                    torch.nn.Linear(8, 2))
        # paramwise_cfg: one group per parameter, so the wrapper has base_param_settings
        strategy.prepare(model, optim_wrapper=dict(
            type=ScaledOptimWrapper, init_scale=init_scale,
            optimizer=dict(type='AdamW', lr=1e-3),
            paramwise_cfg=dict(custom_keys={'2.': dict(lr_mult=0.5)})))
        return strategy, strategy.optim_wrapper

    strategy, optim = prepared(1024.0)
    optim.update_params(strategy.model(torch.randn(3, 4)).square().mean())
    optim.base_param_settings['lr'] = 5e-4  # as a parameter scheduler leaves it
    saved = strategy.optim_state_dict()
    path = osp.join(work_dir, 'epoch_1.pth')
    strategy.save_checkpoint(path)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)

    fresh_strategy, fresh = prepared(65536.0)
    fresh_strategy.load_optim_state_dict(ckpt['optimizer'])
    with open(out, 'w') as f:
        json.dump(dict(
            saved_keys=sorted(saved), saved_scaler=saved.get('loss_scaler'),
            saved_base_lr=saved.get('base_param_settings', {}).get('lr'),
            scaler=optim.loss_scaler.state_dict(),
            file_scaler=ckpt['optimizer'].get('loss_scaler'),
            restored_scaler=fresh.loss_scaler.state_dict(),
            restored_base_lr=fresh.base_param_settings['lr'],
            steps=[float(s['step']) for s in optim.optimizer.state.values()],
            restored_steps=[float(s['step']) for s in fresh.optimizer.state.values()]), f)


if __name__ == '__main__':
    from tools.train import close_distributed
    {'wrap_vit_large': wrap_vit_large, 'ema_under_fsdp': ema_under_fsdp,
     'fsdp_loss_scaler': fsdp_loss_scaler}[sys.argv[1]](*sys.argv[2:])
    close_distributed()  # a rank exiting with its gloo group open may abort
