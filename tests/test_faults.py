"""Faults: SIGKILL during a checkpoint save, resuming after it, resume equivalence per method.

The killed runs are real processes of tools/train.py (tests/kill_during_save.py kills them
at one point of the 2nd save); the resumed runs go through the same tool in this process.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from mim_deepsup.engine import last_complete_checkpoint
from mim_deepsup.testing import ROOT, tiny_runner_cfg

# real tools/train.py processes killed mid-save, and resumed runs
pytestmark = pytest.mark.slow

DDAE = osp.join(ROOT, 'configs', 'ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py')
TINY = {name: osp.join(ROOT, 'configs', *path) for name, path in {
    'mae': ('mae', 'mae_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim': ('deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae': ('ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py'),
    'lut': ('lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py'),
    'beitv2': ('beitv2', 'beitv2_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-beitv2': ('deepmim', 'deepmim_beitv2_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-beitv2': ('ddae', 'ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-hog': ('deepmim', 'deepmim-hog_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-hog': ('ddae', 'ddae-hog_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-dino': ('deepmim', 'deepmim-dino_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-dino': ('ddae', 'ddae-dino_vit-tiny-p4_1xb32-20e_demo.py'),
    'pixmim': ('pixmim', 'pixmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-pixmim': ('deepmim', 'deepmim_pixmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-pixmim': ('ddae', 'ddae_pixmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'lut-pixmim': ('lut', 'lut_pixmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'simmim': ('simmim', 'simmim_swin-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-simmim': ('deepmim', 'deepmim_simmim_swin-tiny-p4_1xb32-20e_demo.py'),
    'ddae-simmim': ('ddae', 'ddae_simmim_swin-tiny-p4_1xb32-20e_demo.py'),
    'maskfeat': ('maskfeat', 'maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-maskfeat': ('deepmim', 'deepmim_maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-maskfeat': ('ddae', 'ddae_maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
}.items()}


def fault_cfg(demo_data, work_dir, config=DDAE, max_epochs=3):
    """3 epochs of 2 iterations, a checkpoint each epoch, only the newest one kept."""
    cfg = tiny_runner_cfg(demo_data, work_dir, config=config, max_epochs=max_epochs)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    path = osp.join(work_dir, 'cfg.py')
    cfg.dump(path)
    return path


def train_tool(cfg_path, work_dir, *extra):
    from tools.train import main
    # --default-malloc: the test process's allocator stays as it is
    main([cfg_path, '--work-dir', str(work_dir), '--default-malloc', *extra])


def final_state(work_dir):
    ckpt = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=True)
    return ckpt['state_dict'], ckpt['optimizer']['state'], ckpt['meta']


@pytest.fixture(scope='module')
def reference(demo_data, tmp_path_factory):
    """The uninterrupted run: 3 epochs."""
    work_dir = tmp_path_factory.mktemp('reference')
    train_tool(fault_cfg(demo_data, work_dir), work_dir)
    return final_state(work_dir)


# where the kill lands in the 2nd save -> the checkpoint --resume auto must pick
KILL_POINTS = {
    'checkpoint-write': 'epoch_1.pth',  # epoch_2 half-written: the old one is still whole
    'before-record': 'epoch_2.pth',  # last_checkpoint still names epoch_1: newer wins
    'record-write': 'epoch_2.pth',
    'before-delete': 'epoch_2.pth',
}


@pytest.mark.parametrize('point', list(KILL_POINTS))
def test_sigkill_during_a_save_leaves_a_complete_checkpoint_and_resume_continues_exactly(
        point, reference, demo_data, tmp_path):
    cfg_path = fault_cfg(demo_data, tmp_path)
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tests', 'kill_during_save.py'), point, cfg_path,
         '--work-dir', str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr[-3000:]  # killed, not finished

    picked = last_complete_checkpoint(str(tmp_path))
    assert picked == osp.join(tmp_path, KILL_POINTS[point])
    # every checkpoint file left behind loads
    for path in glob.glob(osp.join(tmp_path, 'epoch_*.pth')):
        torch.load(path, weights_only=True)
    with open(tmp_path / 'last_checkpoint') as f:
        torch.load(f.read().strip(), weights_only=True)

    train_tool(cfg_path, tmp_path, '--resume')  # auto
    state, optimizer, meta = final_state(tmp_path)
    ref_state, ref_optimizer, ref_meta = reference
    assert meta['iter'] == ref_meta['iter'] == 6
    assert state.keys() == ref_state.keys()
    for key in ref_state:  # student, decoders, EMA teacher
        assert torch.equal(state[key], ref_state[key]), key
    for key in ref_optimizer:
        assert torch.equal(optimizer[key]['exp_avg'], ref_optimizer[key]['exp_avg'])
    # max_keep_ckpts=1 holds again, and nothing half-written is left
    assert not glob.glob(osp.join(tmp_path, '.partial-*'))
    assert sorted(glob.glob(osp.join(tmp_path, '*.pth'))) == [
        osp.join(tmp_path, 'epoch_3.pth')]


def test_mmengines_own_hook_loses_every_checkpoint_in_the_same_kill(demo_data, tmp_path):
    """Why AtomicCheckpointHook exists: mmengine's CheckpointHook deletes the old checkpoint
    first and writes the new one in place, so the same kill leaves nothing to resume."""
    cfg_path = fault_cfg(demo_data, tmp_path)
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tests', 'kill_during_save.py'), 'checkpoint-write',
         cfg_path, '--work-dir', str(tmp_path), '--cfg-options',
         'default_hooks.checkpoint.type=CheckpointHook'],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr[-3000:]
    assert not osp.exists(tmp_path / 'epoch_1.pth')  # deleted before the new save
    with pytest.raises(RuntimeError, match='zip archive'):
        torch.load(tmp_path / 'epoch_2.pth', weights_only=True)  # truncated
    assert last_complete_checkpoint(str(tmp_path)) is None


def test_resume_auto_skips_a_truncated_newest_checkpoint(demo_data, tmp_path):
    cfg_path = fault_cfg(demo_data, tmp_path, max_epochs=2)
    train_tool(cfg_path, tmp_path, '--cfg-options', 'default_hooks.checkpoint.max_keep_ckpts=-1')
    whole = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_2.pth').write_bytes(whole[:len(whole) // 3])  # e.g. a full disk
    assert last_complete_checkpoint(str(tmp_path)) == osp.join(tmp_path, 'epoch_1.pth')
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    assert last_complete_checkpoint(str(tmp_path)) is None
    # a whole file that weights-only loading refuses is not silently passed over
    # e.g. a Runner checkpoint of a config without WeightsOnlyCheckpointHook
    from mmengine.logging import HistoryBuffer
    torch.save({'meta': {}, 'state_dict': {}, 'message_hub': HistoryBuffer()},
               tmp_path / 'iter_9.pth')
    with pytest.raises(ValueError, match=r'iter_9\.pth is a complete file that weights-only'):
        last_complete_checkpoint(str(tmp_path))
    # what mmengine's lookup returns as it is: a remote path, a DeepSpeed folder
    for named in ('s3://bucket/run/epoch_3.pth', str(tmp_path / 'ds')):
        (tmp_path / 'ds').mkdir(exist_ok=True)
        (tmp_path / 'last_checkpoint').write_text(named)
        assert last_complete_checkpoint(str(tmp_path)) == named


def test_iteration_checkpoints_in_a_subfolder_of_another_out_dir(demo_data,
                                                                             tmp_path):
    """Iteration checkpoints, in a subfolder of another out_dir: written through the atomic
    backend, max_keep_ckpts holds, and --resume auto finds them."""
    cfg_path = fault_cfg(demo_data, tmp_path, max_epochs=2)
    out_dir = tmp_path / 'elsewhere'
    train_tool(cfg_path, tmp_path, '--cfg-options', 'train_cfg.max_epochs=2',
               'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=1',
               f'default_hooks.checkpoint.out_dir={out_dir}',
               'default_hooks.checkpoint.filename_tmpl=ckpts/iter_{}.pth',
               'default_hooks.checkpoint.max_keep_ckpts=2')
    folder = out_dir / osp.basename(tmp_path) / 'ckpts'
    assert sorted(os.listdir(folder)) == ['iter_3.pth', 'iter_4.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(folder / 'iter_4.pth')
    assert last_complete_checkpoint(str(tmp_path)) == str(folder / 'iter_4.pth')


@pytest.mark.parametrize('method', list(TINY))
def test_resume_continues_each_method_exactly(method, demo_data, tmp_path):
    """4 iterations straight vs 2 + resume from epoch_1: the same student, decoders, EMA
    teacher, optimizer moments, lr and losses, and the same progress schedule."""
    def run(work_dir, **kwargs):
        cfg = tiny_runner_cfg(demo_data, work_dir, config=TINY[method], **kwargs)
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner

    full = run(tmp_path / 'full')
    resumed = run(tmp_path / 'resumed', resume=True,
                  load_from=str(tmp_path / 'full' / 'epoch_1.pth'))
    assert resumed.iter == full.iter == 4
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.model.progress == full.model.progress == 0.75
    for key in full.message_hub.log_scalars:
        if key.startswith('train/loss') or key == 'train/lr':
            assert (resumed.message_hub.get_scalar(key).data[0].tolist()
                    == full.message_hub.get_scalar(key).data[0].tolist()), key
    opt_a = full.optim_wrapper.optimizer.state_dict()['state']
    opt_b = resumed.optim_wrapper.optimizer.state_dict()['state']
    for k in opt_a:
        assert torch.equal(opt_a[k]['exp_avg_sq'], opt_b[k]['exp_avg_sq'])



def test_random_state_hook_restores_the_cuda_generator_of_this_process_only(monkeypatch):
    """With one GPU per process, rank r must get back the state of its own device's
    generator (saved by rank 0 for rank 0's device: the same with one seed), not rank 0's
    states of every device, which would reset device r to a state never used (no GPU
    here: torch.cuda's generator functions are replaced by recorders)."""
    from mim_deepsup.engine import RandomStateHook
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_rng_state', lambda: torch.tensor([7], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, 'get_rng_state_all', lambda: calls.append('get_all'))
    monkeypatch.setattr(torch.cuda, 'set_rng_state', lambda s: calls.append(('set', s.tolist())))
    monkeypatch.setattr(torch.cuda, 'set_rng_state_all', lambda s: calls.append('set_all'))
    hook, checkpoint = RandomStateHook(), {}
    hook.before_save_checkpoint(None, checkpoint)
    hook.after_load_checkpoint(None, checkpoint)
    assert calls == [('set', [7])]
