"""Distributed training: 2 processes (gloo, tools/dist_train.sh) equal 1 process of the same
global batch; the EMA teacher is identical on every rank; LUT's BatchNorm is global."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.runner import Runner

from mim_deepsup.core.view_masking import mask_noise
from mim_deepsup.testing import ROOT, all_reduce_bn_worker, bn_batches, make_bn, tiny_runner_cfg

# every test starts 2 training processes (torchrun, gloo)
pytestmark = pytest.mark.slow

METHODS = {
    'mae': ('mae', 'mae_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim': ('deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae': ('ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py'),
    'lut': ('lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py'),
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
}


def test_mask_noise_gives_each_rank_its_images_rows_of_the_one_process_draw(monkeypatch):
    import mim_deepsup.core.view_masking as view_masking
    torch.manual_seed(3)
    single = mask_noise(6, 10, torch.device('cpu'))  # (6, 10): 1 process, batch 6
    parts = []
    for rank in range(2):  # 2 processes, batch 3 each, the same seed on both
        monkeypatch.setattr(view_masking, 'get_dist_info', lambda rank=rank: (rank, 2))
        torch.manual_seed(3)
        parts.append(mask_noise(3, 10, torch.device('cpu')))
    # mmengine's samplers deal the global batch out round-robin: rank r has rows r, r + 2..
    assert torch.equal(parts[0], single[0::2]) and torch.equal(parts[1], single[1::2])


@pytest.mark.parametrize('case', [
    dict(shape=(12, 5), mean=1.0, momentum=0.1, steps=1, atol=1e-5),
    dict(shape=(12, 5, 3), mean=1.0, momentum=None, steps=3, atol=1e-5),  # (B, C, L)
    # |mean| >> std: x itself is fp32-rounded by 6e-5, the one-pass E[x^2] - E[x]^2 was off
    # by 9e-2; float64 BatchNorm is the reference
    dict(shape=(12, 5), mean=1e3, momentum=0.1, steps=2, atol=1e-3),
], ids=['2d', '3d-cumulative', 'large-mean'])
def test_all_reduce_batch_norm_is_batch_norm_of_the_whole_batch(case, tmp_path):
    bn = make_bn(case, torch.nn.BatchNorm1d).double()
    for x, upstream in bn_batches(case):
        bn.zero_grad()
        x = x.double().requires_grad_()
        y = bn(x)
        (y * upstream.double()).sum().backward()

    mp.spawn(all_reduce_bn_worker, args=(2, str(tmp_path / 'init'), str(tmp_path), case),
             nprocs=2)
    ranks = [torch.load(tmp_path / f'bn{r}.pth') for r in range(2)]

    def close(actual, expected):
        torch.testing.assert_close(actual.double(), expected.detach(), rtol=1e-5,
                                   atol=case['atol'])
    for r, out in enumerate(ranks):
        close(out['y'], y[r::2])
        close(out['grad'], x.grad[r::2])  # this share of d(sum of every process's loss)/dx
        close(out['running_mean'], bn.running_mean)
        close(out['running_var'], bn.running_var)
    # DDP averages parameter gradients: the sum of the shares is the whole batch's
    close(ranks[0]['weight_grad'] + ranks[1]['weight_grad'], bn.weight.grad)


def fixed_pipeline(cfg, num_views: int):
    """The data without random augmentation (a plain resize per view): mmengine draws
    augmentations per process, so only masks and the step itself are compared. Masks drawn
    by the pipeline (SimMIM's, MaskFeat's) come from each image's index; drop path (random
    per image, per process: SimMIM's Swin) is off."""
    size = cfg.model.backbone.img_size
    resize = dict(type='Resize', scale=(size, size), backend='pillow',
                  interpolation='bicubic')
    views = ([dict(type='MultiView', num_views=[1] * num_views,
                   transforms=[[resize]] * num_views)] if num_views > 1 else [resize])
    masks = [dict(type='IndexSeeded', transform=step)
             for step in cfg.train_dataloader.dataset.pipeline
             if step['type'].endswith('MaskGenerator')]
    if masks:  # mask-token encoders (Swin: drop path 0.1 by default)
        cfg.model.backbone.drop_path_rate = 0.0
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='RobustLoadImageFromFile'), *views, *masks, dict(type='PackInputs')]


def run_two_processes(cfg_path, work_dir, *options, batch_size=8, resume=None, check=True):
    """tools/dist_train.sh CONFIG 2 on a free port;
    ``options`` are more ``--cfg-options``, ``resume`` a checkpoint to resume from."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port))
    run = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), cfg_path, '2', '--work-dir',
         str(work_dir), *(['--resume', str(resume)] if resume else []), '--cfg-options',
         f'train_dataloader.batch_size={batch_size}', *options],
        env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 or not check, run.stderr[-3000:]
    return run


@pytest.mark.parametrize('method', list(METHODS))
def test_two_processes_equal_one_process_of_the_same_global_batch(method, demo_data, tmp_path):
    """2 epochs x 2 iterations of the global batch 16: 1 process x 16 vs 2 processes x 8
    (gloo, tools/dist_train.sh), the same seed on both ranks (as our MAE base sets)."""
    cfg = tiny_runner_cfg(demo_data, tmp_path / 'one', config=osp.join(ROOT, 'configs',
                                                                       *METHODS[method]))
    fixed_pipeline(cfg, 2 if method.startswith('lut') else 1)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True, seed=0)
    cfg.custom_imports.imports = ['mim_deepsup', 'mim_deepsup.testing']
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type='RecordRankHook')]
    cfg.default_hooks.checkpoint = None
    # SGD, not the config's AdamW, for the weight comparison: Adam divides each gradient
    # entry by its own size, so an entry whose true gradient is 0 (attention's key bias, to
    # which softmax is invariant) takes +-lr steps whose sign is float noise
    cfg.optim_wrapper.optimizer = dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.05)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)

    Runner.from_cfg(cfg).train()  # 1 process, batch 16
    one = torch.load(tmp_path / 'one' / 'rank0.pth')

    run_two_processes(cfg_path, tmp_path / 'two')
    two = [torch.load(tmp_path / 'two' / f'rank{r}.pth') for r in range(2)]
    assert [t['world_size'] for t in two] == [2, 2]

    # the losses: the mean of the ranks' losses is the 1-process loss of every term
    assert len(one['losses']) == len(two[0]['losses']) == 4
    for step, ref in enumerate(one['losses']):
        for key in ref:
            if key.startswith('loss'):
                mean = (two[0]['losses'][step][key] + two[1]['losses'][step][key]) / 2
                assert mean == pytest.approx(ref[key], rel=1e-5, abs=1e-7), (step, key)
    # every rank holds the same model, EMA teacher and (LUT) BatchNorm statistics, bit for bit
    for key, value in two[0]['state'].items():
        assert torch.equal(value, two[1]['state'][key]), key
    # and it is the 1-process model
    assert one['state'].keys() == two[0]['state'].keys()
    for key, value in one['state'].items():
        torch.testing.assert_close(two[0]['state'][key], value, rtol=1e-4, atol=1e-6,
                                   msg=lambda m, key=key: f'{key}: {m}')
    if method.startswith(('ddae', 'lut')) and method != 'ddae-simmim':  # an EMA teacher
        assert any(k.startswith('teacher.') for k in one['state'])


def test_a_resumed_two_process_run_continues_exactly(demo_data, tmp_path):
    """LUT (two views, AllReduceBN heads, EMA teacher) in 2 processes: 2 epochs straight vs
    ``--resume`` from its epoch-1 checkpoint. Both ranks end with the uninterrupted run's
    weights, teacher and BatchNorm statistics, and the resumed steps have its losses, bit
    for bit (RandomStateHook saves rank 0's generators; with one seed every rank has them)."""
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=osp.join(ROOT, 'configs',
                                                                *METHODS['lut']))
    fixed_pipeline(cfg, 2)
    cfg.custom_imports.imports = ['mim_deepsup', 'mim_deepsup.testing']
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type='RecordRankHook')]
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    run_two_processes(cfg_path, tmp_path / 'full')
    run_two_processes(cfg_path, tmp_path / 'resumed', resume=tmp_path / 'full' / 'epoch_1.pth')
    for rank in range(2):
        full = torch.load(tmp_path / 'full' / f'rank{rank}.pth')
        resumed = torch.load(tmp_path / 'resumed' / f'rank{rank}.pth')
        assert len(resumed['losses']) == 2  # the second epoch only
        assert resumed['losses'] == full['losses'][2:]
        for key, value in full['state'].items():
            assert torch.equal(value, resumed['state'][key]), (rank, key)


def test_a_nan_on_one_process_stops_every_process_before_saving(demo_data, tmp_path):
    """4 epochs x 2 iterations in 2 processes; from iteration 5 (epoch 3) only rank 1's loss
    is NaN. DDP averages it into every rank's gradients: both ranks must stop there, and
    only the finite epoch_1/epoch_2 checkpoints exist."""
    cfg = tiny_runner_cfg(demo_data, tmp_path, max_epochs=4,
                          model=dict(supervisions=dict(
                              breaks=dict(type='LossThatBreaks', rank=1))))
    cfg.custom_imports.imports = ['mim_deepsup', 'mim_deepsup.testing']
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    run = run_two_processes(cfg_path, tmp_path / 'run', check=False)
    assert run.returncode != 0
    log = run.stdout + run.stderr
    assert 'iteration 5 (epoch 3): non-finite loss loss_breaks_breaks = nan' in log  # rank 1
    assert 'iteration 5 (epoch 3): non-finite loss on another process' in log  # rank 0
    assert sorted(p.name for p in (tmp_path / 'run').glob('*.pth')) == [
        'epoch_1.pth', 'epoch_2.pth']
    state = torch.load(tmp_path / 'run' / 'epoch_2.pth', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize('config', [
    ('beitv2', 'beitv2_vit-tiny-p4_1xb32-20e_demo.py'),
    ('ddae', 'ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py'),
], ids=lambda c: c[1].split('_vit')[0])
def test_beitv2_runs_distributed_without_searching_for_unused_parameters(config, demo_data,
                                                                          tmp_path):
    """mmpretrain's BEiT-v2 config needs find_unused_parameters=True (its tokenizer's
    parameters get no gradient); ours freezes the tokenizer and runs without. Every rank
    ends with the same model and teacher. (BEiT's masks come from the data pipeline, drawn
    per process, so there is no 1-process equality to check here.)"""
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=osp.join(ROOT, 'configs', *config))
    assert cfg.find_unused_parameters is False
    # a codebook drawn from the seed, not k-means on each process's first batch
    cfg.model.target_generator.quantize_kmeans_init = False
    cfg.custom_imports.imports = ['mim_deepsup', 'mim_deepsup.testing']
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type='RecordRankHook')]
    cfg.default_hooks.checkpoint = None
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    run_two_processes(cfg_path, tmp_path / 'two')
    two = [torch.load(tmp_path / 'two' / f'rank{r}.pth') for r in range(2)]
    assert len(two[0]['losses']) == 4
    for key, value in two[0]['state'].items():
        assert torch.equal(value, two[1]['state'][key]), key
