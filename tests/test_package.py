"""Registration, configs and the data generator's layouts."""
import glob
import hashlib
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mim_deepsup.datasets import SEG_CLASSES, SHAPES, make_demo_data
from mim_deepsup.testing import ROOT, TINY_MAE


@pytest.mark.slow
def test_import_registers_components_without_mmseg():
    code = (
        'import sys, mim_deepsup\n'
        'from mmpretrain.registry import HOOKS, MODELS\n'
        'for name in ("ComposableMAE", "TappedMAEViT", "EMATeacher"):\n'
        '    assert MODELS.get(name) is not None, name\n'
        'for name in ("TrainingProgressHook", "EMATeacherHook", "RandomStateHook",\n'
        '             "WeightsOnlyCheckpointHook"):\n'
        '    assert HOOKS.get(name) is not None, name\n'
        'print(sorted(m for m in sys.modules if m.split(".")[0] == "mmseg"))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


@pytest.mark.slow
def test_import_leaves_out_the_harness_and_the_test_helpers():
    """Training imports the models, hooks and optim wrappers only: the benchmark harness
    and the test helpers stay out (of its tuning, only the CPU attention swap, which
    BF16OptimWrapper applies on the CPU)."""
    code = ('import sys, mim_deepsup\n'
            'print(sorted(m for m in sys.modules if m.startswith(\n'
            '    ("mim_deepsup.testing", "mim_deepsup.benchmarking."))))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "['mim_deepsup.benchmarking.cpu_tuning']"


# fragments that other configs inherit and that hold no model: the runtime every
# pretraining base adds, and the one every downstream mmpretrain config adds
RUNTIME = osp.join(ROOT, 'configs', '_base_', 'mim-deepsup_runtime.py')
FRAGMENTS = {RUNTIME, osp.join(ROOT, 'configs', '_base_', 'mim-deepsup_finetune_runtime.py'),
             osp.join(ROOT, 'configs', 'main_job', 'digits_recipe.py')}
ALL_CONFIGS = set(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
# fine-tuning, linear probing and segmentation: configs/<method>/benchmarks/, their bases
# and the main job's UperNet
DOWNSTREAM = sorted(p for p in ALL_CONFIGS - FRAGMENTS
                    if '/benchmarks/' in p
                    or osp.basename(p).startswith(('upernet-', 'upernet_', 'finetune_')))
CONFIGS = sorted(ALL_CONFIGS - FRAGMENTS - set(DOWNSTREAM))


def test_runtime_fragment_holds_only_imports_and_hooks():
    assert set(Config.fromfile(RUNTIME).keys()) == {'custom_imports', 'custom_hooks'}


# configs that read a frozen network's checkpoint path from the environment
CHECKPOINT_VARIABLES = ('DEEPMIM_FROZEN_MAE', 'DEEPMIM_CLIP', 'DEEPMIM_DINO')


@pytest.mark.parametrize('ours, theirs', [
    ('composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
     'mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'),
    ('composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
     'beitv2/beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'),
    ('composable-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
     'simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'),
    ('composable-maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py',
     'maskfeat/maskfeat_vit-base-p16_8xb256-amp-coslr-300e_in1k.py'),
])
def test_pretraining_pipelines_are_mmpretrains_with_our_image_loading(ours, theirs):
    def pipeline(cfg):
        return [{k: v for k, v in step.items() if k != '_scope_'}
                for step in cfg.train_dataloader.dataset.pipeline]
    mine = pipeline(Config.fromfile(osp.join(ROOT, 'configs', '_base_', ours)))
    import mmpretrain
    reference = pipeline(Config.fromfile(
        osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', theirs)))
    assert mine[0] == dict(type='RobustLoadImageFromFile')
    assert reference[0] == dict(type='LoadImageFromFile')
    assert mine[1:] == reference[1:]


def assert_fault_hooks(cfg):
    """Checkpoints saved atomically, kept weights-only loadable, and no save after a
    non-finite loss (tests/test_faults.py, tests/test_training.py test the hooks)."""
    assert cfg.default_hooks.checkpoint.type.split('.')[-1] == 'AtomicCheckpointHook'
    hooks = {hook.type.split('.')[-1] for hook in cfg.custom_hooks}
    assert {'NonFiniteLossHook', 'WeightsOnlyCheckpointHook'} <= hooks


def tiny_fast_others_slow(paths):
    """The tiny configs in the fast tier; ViT-B/L builds take seconds each: slow."""
    return [pytest.param(p, id=osp.relpath(p, ROOT),
                         marks=() if 'tiny' in osp.basename(p) else pytest.mark.slow)
            for p in paths]


@pytest.mark.parametrize('path', tiny_fast_others_slow(CONFIGS))
def test_every_config_builds_its_model(path, tmp_path, monkeypatch):
    from mmpretrain.registry import MODELS
    placeholder = tmp_path / 'frozen.pth'  # building checks it exists; init_weights loads it
    placeholder.touch()
    for name in CHECKPOINT_VARIABLES:
        monkeypatch.setenv(name, str(placeholder))
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['mim_deepsup']
    assert '_scope_' not in cfg.train_dataloader.collate_fn
    assert_fault_hooks(cfg)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ in ('ComposableMAE', 'ComposableBEiT', 'ComposableSimMIM',
                                    'ComposableMaskFeat')


@pytest.mark.parametrize('path', tiny_fast_others_slow(DOWNSTREAM))
def test_every_downstream_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert_fault_hooks(cfg)
    if 'upernet' in osp.basename(path):  # mmsegmentation: only mim_deepsup.seg imports it
        from mmseg.registry import MODELS

        import mim_deepsup.seg  # noqa: F401
        assert cfg.custom_imports.imports == ['mim_deepsup.seg']
        cfg.model.pretrained = None  # build only; loading is tested in test_seg_downstream
        model = MODELS.build(cfg.model)
        kind = 'BEiT' if 'beit' in osp.basename(path) else 'MAE'
        assert type(model.backbone).__name__ == f'StrictLoad{kind}'
    else:
        from mmpretrain.registry import MODELS
        assert cfg.custom_imports.imports == ['mim_deepsup']
        model = MODELS.build(cfg.model)
        assert type(model).__name__ == 'ImageClassifier'
        assert cfg.model.backbone.init_cfg.prefix == 'backbone.'


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(glob.glob(osp.join(root, '**', '*.*'), recursive=True)):
        h.update(osp.relpath(f, root).encode())
        with open(f, 'rb') as fh:
            h.update(fh.read())
    return h.hexdigest()


def test_demo_data_layouts_and_determinism(tmp_path, demo_data):
    a = make_demo_data(str(tmp_path / 'a'), num_train=12, num_val=4, size=48)
    b = make_demo_data(str(tmp_path / 'b'), num_train=12, num_val=4, size=48)
    assert _digest(a['root']) == _digest(b['root'])
    assert not glob.glob(str(tmp_path / '.demo-data-*'))  # no half-written folder left

    # mmpretrain: ImageNet-style lists and CustomDataset folders agree
    from mmpretrain.datasets import CustomDataset, ImageNet
    lists = ImageNet(data_root=demo_data['imagenet'], split='train', pipeline=[])
    folders = CustomDataset(data_root=demo_data['imagenet'], data_prefix='train', pipeline=[])
    assert len(lists) == len(folders) == 32
    assert folders.CLASSES == SHAPES
    by_path = {osp.basename(d['img_path']): d['gt_label'] for d in folders}
    for info in lists:
        assert by_path[osp.basename(info['img_path'])] == info['gt_label']

    # mmsegmentation: ADE20K layout, labels 0 = ignore, 1..C classes
    from mmseg.datasets import BaseSegDataset
    seg = BaseSegDataset(data_root=demo_data['ade'], img_suffix='.jpg', seg_map_suffix='.png',
                         reduce_zero_label=True,
                        data_prefix=dict(img_path='images/validation',
                                         seg_map_path='annotations/validation'),
                        metainfo=dict(classes=SEG_CLASSES[1:]), pipeline=[])
    assert len(seg) == 8
    labels = np.stack([np.asarray(Image.open(d['seg_map_path'])) for d in seg])
    image = np.asarray(Image.open(seg[0]['img_path']))
    assert image.shape == (64, 64, 3) and labels.shape == (8, 64, 64)
    assert set(np.unique(labels)) <= set(range(len(SEG_CLASSES) + 1))
    assert (labels == 0).any() and (labels == 1).any() and (labels >= 2).mean() > 0.2
    # images have structure: the shape regions differ in colour from the background
    img = np.asarray(Image.open(seg[0]['img_path'])).astype(float)
    lab = labels[0]
    assert np.abs(img[lab >= 2].mean(0) - img[lab == 1].mean(0)).max() > 5


def test_demo_data_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_train'):
        make_demo_data(str(tmp_path / 'x'), num_train=0)
    with pytest.raises(ValueError, match='size'):
        make_demo_data(str(tmp_path / 'x'), size=8)


def test_train_tool_folds_switches_into_the_config(tmp_path):
    from tools.train import apply_args, parse_args
    args = parse_args([TINY_MAE, '--amp', '--no-persistent-workers',
                       '--cfg-options', 'train_cfg.max_epochs=3'])
    cfg = apply_args(Config.fromfile(TINY_MAE), args)
    assert cfg.resume is False and cfg.load_from is None
    if torch.cuda.is_available():  # --amp: mmengine's fp16 path on CUDA, bf16 elsewhere
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.loss_scale == 'dynamic'
    else:
        assert cfg.optim_wrapper.type == 'BF16OptimWrapper'
        assert 'loss_scale' not in cfg.optim_wrapper
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.work_dir == osp.join('work_dirs', 'mae_vit-tiny-p4_1xb32-20e_demo')
    fsdp = osp.join(ROOT, 'configs', 'deepmim',
                    'deepmim_mae_vit-large-p16_8xb512-fsdp-coslr-1600e_in1k.py')
    with pytest.raises(ValueError, match='--amp: .*fsdp.* sets `strategy`'):
        apply_args(Config.fromfile(fsdp), parse_args([fsdp, '--amp']))
    args = parse_args([TINY_MAE, '--resume', 'x.pth', '--work-dir', str(tmp_path)])
    cfg = apply_args(Config.fromfile(TINY_MAE), args)
    assert cfg.resume is True and cfg.load_from == 'x.pth' and cfg.work_dir == str(tmp_path)
    # --resume alone: the newest complete checkpoint of the work dir (the one --cfg-options
    # sets, if it does), or a fresh start when there is none
    args = parse_args([TINY_MAE, '--resume', '--cfg-options', f'work_dir={tmp_path}'])
    cfg = apply_args(Config.fromfile(TINY_MAE), args)
    assert cfg.resume is False and cfg.load_from is None


def test_benchmark_tool_times_two_configs(capsys):
    from mim_deepsup.benchmarking.cli import main
    main([TINY_MAE, '--baseline', TINY_MAE, '--iters', '2', '--warmup', '1', '--batch-size',
          '2', '--no-memory'])
    lines = capsys.readouterr().out.splitlines()
    steps = [line for line in lines if 'images/s' in line]
    assert len(steps) == 2 and all('(32 px): step' in line for line in steps)
    assert all(float(line.split(' GFLOP/step')[0].split(', ')[-1]) > 0 for line in steps)
    assert lines[-2] == 'FLOPs ratio to baseline: 1.000'  # the same model twice
    assert lines[-1].startswith('ratio to baseline: ')
    assert float(lines[-1].split(':')[1]) > 0  # timing itself is not asserted (machine load)


def test_test_tool_refuses_a_config_without_a_test_loop(tmp_path):
    from tools.test import main
    with pytest.raises(SystemExit, match='has no test_dataloader'):
        main([TINY_MAE, str(tmp_path / 'x.pth')])
