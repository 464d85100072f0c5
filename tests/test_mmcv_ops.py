"""No compiled mmcv op runs in this project's pretraining, fine-tuning and segmentation.

``tools/setup_env.sh`` builds mmcv's ops for the CPU only, also on a CUDA machine: they
are needed for ``import mmseg`` (its heads import ``mmcv.ops``), never called. Every
function of ``mmcv._ext`` is replaced by a recorder here, and a few iterations of each
path run through mmengine's Runner; a CUDA-only op would be called through the same
functions, so none may be recorded.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mim_deepsup.testing import ROOT, tiny_runner_cfg

mmcv_ext = pytest.importorskip('mmcv._ext')

CONFIGS = osp.join(ROOT, 'configs')
PRETRAINING = ('mae/mae_vit-tiny-p4_1xb32-20e_demo.py',
               'deepmim/deepmim_vit-tiny-p4_1xb32-20e_demo.py',
               'ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py',
               'lut/lut_vit-tiny-p4_1xb32-20e_demo.py',
               'ddae/ddae-lut_vit-tiny-p4_1xb32-20e_demo.py',
               'beitv2/beitv2_vit-tiny-p4_1xb32-20e_demo.py',
               'deepmim/deepmim_beitv2_vit-tiny-p4_1xb32-20e_demo.py',
               'ddae/ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py',
               'deepmim/deepmim-hog_vit-tiny-p4_1xb32-20e_demo.py',
               'deepmim/deepmim_pixmim_vit-tiny-p4_1xb32-20e_demo.py',
               'deepmim/deepmim_simmim_swin-tiny-p4_1xb32-20e_demo.py',
               'ddae/ddae_simmim_swin-tiny-p4_1xb32-20e_demo.py',
               'ddae/ddae_maskfeat_vit-tiny-p4_1xb32-20e_demo.py')


@pytest.fixture
def op_calls(monkeypatch):
    """The names of the ``mmcv._ext`` functions called while the test runs."""
    calls = []

    def recorder(name, fn):
        def record(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)
        return record

    names = [n for n in dir(mmcv_ext) if not n.startswith('_') and callable(getattr(mmcv_ext, n))]
    assert len(names) > 100, names  # mmcv 2.1 binds about 300
    for name in names:
        monkeypatch.setattr(mmcv_ext, name, recorder(name, getattr(mmcv_ext, name)))
    return calls


def test_the_recorder_sees_an_mmcv_op(op_calls):
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert op_calls == ['nms']


@pytest.mark.parametrize('config', PRETRAINING)
def test_pretraining_runs_no_mmcv_op(config, op_calls, demo_data, tmp_path):
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=osp.join(CONFIGS, config),
                          max_epochs=1)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    Runner.from_cfg(cfg).train()
    assert op_calls == []


def test_finetuning_runs_no_mmcv_op(op_calls, demo_data, tmp_path):
    config = osp.join(CONFIGS, 'lut', 'benchmarks', 'lut_vit-tiny-p4_1xb32-coslr-5e_demo.py')
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=config, max_epochs=1)
    cfg.model.backbone.init_cfg = None  # random weights: what is run, not what is loaded
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=8)
        loader.dataset.data_root = demo_data['imagenet']
    Runner.from_cfg(cfg).train()  # 2 iterations and a validation
    assert op_calls == []


@pytest.mark.slow
def test_segmentation_runs_no_mmcv_op(op_calls, demo_data, tmp_path):
    import mim_deepsup.seg  # noqa: F401  (registers StrictLoadMAE)
    config = osp.join(CONFIGS, 'lut', 'benchmarks',
                      'lut_upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py')
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path)
    cfg.model.pretrained = None
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler = []
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=2)
        loader.dataset.data_root = demo_data['ade']
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg.visualizer = dict(type='SegLocalVisualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    Runner.from_cfg(cfg).train()  # 2 iterations and a sliding-window validation
    assert op_calls == []
