import os

import pytest
import torch

import mim_deepsup  # noqa: F401  (registers the components)
from mim_deepsup.datasets import make_demo_data

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
