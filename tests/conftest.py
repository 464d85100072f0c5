import copy
import os
import os.path as osp
import sys
import uuid

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
TINY_MAE = osp.join(ROOT, 'configs', 'mae', 'mae_vit-tiny-p4_1xb32-20e_demo.py')

import mim_deepsup  # noqa: E402,F401
from mim_deepsup.datasets import make_demo_data  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Each test starts in mmpretrain's registry scope: a Runner of an mmseg config (the
    main job, segmentation tests) leaves mmseg's as the process-wide default, where
    'VisionTransformer' or 'MAE' name mmseg's classes."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """A small demo dataset: 32 train and 8 val images of 64 px."""
    root = tmp_path_factory.mktemp('demo') / 'data'
    return make_demo_data(str(root), num_train=32, num_val=8, size=64)


def tiny_runner_cfg(demo_data, work_dir, config=TINY_MAE, max_epochs=2, batch_size=16,
                    **overrides) -> Config:
    """The tiny config for a deterministic CPU run of ``max_epochs`` x (32 / batch) iters.

    Main-process data loading (num_workers=0) keeps augmentations reproducible on resume.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    # mmengine keys its message hub and visualizer by experiment name (config name + time to
    # the second): runs in the same second would share them
    cfg.experiment_name = f'test-{uuid.uuid4().hex}'
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.data_root = demo_data['imagenet']
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0, deterministic=False, diff_rank_seed=False)
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='UniversalVisualizer', vis_backends=[])
    cfg.merge_from_dict(copy.deepcopy(overrides))
    return cfg


def manual_masked_pass(backbone, x, seed):
    """MAEViT's masked pass written out block by block, after ``torch.manual_seed(seed)``.

    Returns ``(mask, ids_restore, outputs)`` with ``outputs[block]`` the raw output of each
    block (from 1), to compare recorded taps and decoder inputs with.
    """
    torch.manual_seed(seed)
    tokens = backbone.patch_embed(x)[0] + backbone.pos_embed[:, 1:, :]
    tokens, mask, ids_restore = backbone.random_masking(tokens, backbone.mask_ratio)
    cls = (backbone.cls_token + backbone.pos_embed[:, :1, :]).expand(len(x), -1, -1)
    tokens = torch.cat([cls, tokens], dim=1)
    outputs = {}
    for i, layer in enumerate(backbone.layers, start=1):
        tokens = layer(tokens)
        outputs[i] = tokens
    return mask, ids_restore, outputs


def build_model(cfg, seed=0):
    """Build a model config with a fixed seed, initialise it and put it in training mode."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model
