"""Real training iterations through mmengine's Runner: progress, EMA, resume, loading."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.registry import MODELS

import mim_deepsup.testing  # noqa: F401  (registers LossThatBreaks)
from mim_deepsup.core import BaseSupervision
from mim_deepsup.testing import TINY_MAE, tiny_runner_cfg


@MODELS.register_module(force=True)
class ProgressRecorder(BaseSupervision):
    """Test component: records the progress its steps' states carry and asks for the
    teacher."""

    needs_teacher = True

    def __init__(self):
        super().__init__()
        self.progress_seen = []

    def loss(self, state, teacher):
        self.progress_seen.append(state.progress)
        return {'teacher_norm': state.teacher_tokens.norm()}


def train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope='module')
def uninterrupted(demo_data, tmp_path_factory):
    """4 iterations (2 epochs x 2) with a teacher and a progress-reading component."""
    work_dir = tmp_path_factory.mktemp('full')
    cfg = tiny_runner_cfg(demo_data, work_dir,
                          model=dict(supervisions=dict(rec=dict(type='ProgressRecorder'))))
    return train(cfg), work_dir


def test_progress_is_iteration_over_max_iterations(uninterrupted):
    runner, _ = uninterrupted
    assert runner.iter == 4 and runner.max_iters == 4
    assert runner.model.supervisions['rec'].progress_seen == [0.0, 0.25, 0.5, 0.75]
    assert runner.model.progress == 0.75


def test_checkpoints_load_with_weights_only(uninterrupted):
    _, work_dir = uninterrupted
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    path = osp.join(work_dir, 'epoch_1.pth')
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    ckpt = torch.load(path, weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'random_state'} <= set(ckpt)
    assert any(k.startswith('teacher.ema.backbone.') for k in ckpt['state_dict'])


def test_resume_gives_the_uninterrupted_weights_teacher_and_progress(
        uninterrupted, demo_data, tmp_path):
    full, full_dir = uninterrupted
    cfg = tiny_runner_cfg(demo_data, tmp_path,
                          model=dict(supervisions=dict(rec=dict(type='ProgressRecorder'))),
                          resume=True, load_from=osp.join(full_dir, 'epoch_1.pth'))
    resumed = train(cfg)
    assert resumed.iter == 4
    assert resumed.model.supervisions['rec'].progress_seen == [0.5, 0.75]
    assert_same_weights(resumed.model, full.model)  # student, teacher, decoder
    # the teacher really moved away from the student during training
    teacher = full.model.teacher['backbone'].state_dict()
    student = full.model.backbone.state_dict()
    assert not torch.equal(teacher['layers.0.ffn.layers.1.weight'],
                           student['layers.0.ffn.layers.1.weight'])
    # the logged history continues too
    for key in ('train/loss', 'train/lr'):
        assert (resumed.message_hub.get_scalar(key).data[0].tolist()
                == full.message_hub.get_scalar(key).data[0].tolist())
    # the optimizer state continues too
    opt_full = full.optim_wrapper.optimizer.state_dict()['state']
    opt_resumed = resumed.optim_wrapper.optimizer.state_dict()['state']
    for k in opt_full:
        assert torch.equal(opt_full[k]['exp_avg'], opt_resumed[k]['exp_avg'])


def test_load_from_and_pretrained_init_cfg(uninterrupted, demo_data, tmp_path):
    full, full_dir = uninterrupted
    ckpt = osp.join(full_dir, 'epoch_2.pth')
    # load_from (weights only, no resume): the model starts from the checkpoint
    cfg = tiny_runner_cfg(demo_data, tmp_path / 'a', max_epochs=1, load_from=ckpt,
                          model=dict(supervisions=dict(rec=dict(type='ProgressRecorder'))))
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert_same_weights(runner.model, full.model)
    # init_cfg=Pretrained with a prefix: a fine-tuning ViT takes the student's backbone
    vit = MODELS.build(dict(
        type='VisionTransformer', arch=dict(embed_dims=64, num_layers=6, num_heads=4,
                                            feedforward_channels=256),
        img_size=32, patch_size=4,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.')))
    vit.init_weights()
    assert torch.equal(vit.layers[0].ffn.layers[1].weight,
                       full.model.backbone.layers[0].ffn.layers[1].weight)
    # mmengine's plain loader as well
    fresh = MODELS.build(cfg.model)
    load_checkpoint(fresh, ckpt, strict=True)
    assert_same_weights(fresh, full.model)


def test_demo_config_trains_through_the_train_tool(demo_data, tmp_path, capsys,
                                                   monkeypatch):
    import tools.train
    from tools.train import main
    data_root = demo_data['imagenet']
    # the tool keeps freed memory (recorded here, so that the test process's allocator is
    # left as it is; tests/test_cpu_tuning.py checks what it does)
    calls = []
    monkeypatch.setattr(tools.train, 'keep_freed_memory',
                        lambda: calls.append(1) or 'malloc: recorded')
    closed = []
    monkeypatch.setattr(tools.train, 'close_distributed', lambda: closed.append(1))
    main([
        TINY_MAE, '--work-dir', str(tmp_path),
        '--cfg-options', 'train_cfg.max_epochs=2', 'train_dataloader.num_workers=0',
        'train_dataloader.batch_size=16',
        f'train_dataloader.dataset.data_root={data_root}', 'log_level=WARNING',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
        f'experiment_name=train-tool-{osp.basename(tmp_path)}'
    ])
    out = capsys.readouterr().out
    assert f'checkpoint: {tmp_path}' in out and 'log: ' in out
    assert calls == [1] and 'malloc: recorded' in out
    assert closed == [1]
    assert osp.isfile(tmp_path / 'epoch_2.pth')
    logs = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    assert logs


@pytest.mark.slow
def test_dist_train_runs_two_processes_on_the_cpu(demo_data, tmp_path):
    import socket
    import subprocess
    import sys

    from mim_deepsup.testing import ROOT
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port))
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), TINY_MAE, '2', '--work-dir',
           str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
           'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
           'train_dataloader.batch_size=8', f'train_dataloader.dataset.data_root='
           f'{demo_data["imagenet"]}', 'default_hooks.checkpoint.interval=1']
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'Distributed training: True' in out.stdout + out.stderr
    # 32 images / (2 ranks x 8) = 2 iterations
    ckpt = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 2


def test_close_distributed_shuts_an_open_group_and_ignores_none(tmp_path):
    import torch.distributed as dist

    from tools.train import close_distributed
    close_distributed()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        close_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_non_finite_loss_stops_before_saving(demo_data, tmp_path):
    """4 epochs of 2 iterations, a checkpoint every epoch; the loss term turns NaN at
    iteration 6 (progress 5/8): training stops there, naming the term and the iteration,
    and the last checkpoint is still epoch 2's, loadable and finite."""
    from mim_deepsup.engine.hooks import NonFiniteLossError
    cfg = tiny_runner_cfg(demo_data, tmp_path, max_epochs=4,
                          model=dict(supervisions=dict(br=dict(type='LossThatBreaks',
                                                                at=5 / 8))))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteLossError, match=r'iteration 6 \(epoch 3\): non-finite loss '
                                                 r'loss_br_breaks = nan;.*epoch_2\.pth'):
        runner.train()
    assert sorted(osp.basename(p) for p in glob.glob(str(tmp_path / 'epoch_*.pth'))) == [
        'epoch_1.pth', 'epoch_2.pth']
    state = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class _Payload:
    """Pickles as a call of ``os.system`` (what a hostile checkpoint would carry)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command, ))


@pytest.mark.parametrize('mode', ['resume', 'load_from'])
def test_a_hostile_checkpoint_runs_no_code(demo_data, tmp_path, mode):
    """Resuming from, or loading, a file whose pickle would run a shell command fails
    before anything of it runs (weights-only loading, with nothing unsafe allow-listed)."""
    marker = tmp_path / 'ran'
    hostile = tmp_path / 'epoch_9.pth'
    torch.save({'meta': {'epoch': 9}, 'state_dict': {}, 'payload': _Payload(f'touch {marker}')},
               hostile)
    cfg = tiny_runner_cfg(demo_data, tmp_path / 'work', max_epochs=1,
                          load_from=str(hostile), resume=mode == 'resume')
    with pytest.raises(Exception, match='Weights only load failed|Unsupported global'):
        Runner.from_cfg(cfg).train()
    assert not marker.exists()
    from mim_deepsup.analysis.encoder import load_encoder
    with pytest.raises(ValueError, match='not a loadable checkpoint'):
        load_encoder(str(hostile))
    assert not marker.exists()
