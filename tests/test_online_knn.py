"""The online k-NN hook: its last point is the offline evaluation of the saved checkpoint,
it leaves training as it is, and bad settings are named."""
import json

import pytest
import torch
from mmengine.runner import Runner

from mim_deepsup.analysis.reconstruction import build_pretraining_model
from mim_deepsup.engine.hooks import OnlineKNNHook
from mim_deepsup.main_job.stages import frozen_evaluation, load_split
from mim_deepsup.testing import tiny_runner_cfg


def train(demo_data, work_dir, hooks):
    """The tiny MAE, 2 epochs of 2 iterations, with ``hooks``; returns the Runner."""
    cfg = tiny_runner_cfg(demo_data, work_dir)
    cfg.custom_hooks = list(cfg.custom_hooks) + hooks
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_last_point_equals_the_evaluation_of_the_checkpoint(demo_data, tmp_path):
    hook = dict(type='OnlineKNNHook', data_root=demo_data['imagenet'], interval=3)
    train(demo_data, tmp_path, [hook])
    with open(tmp_path / 'knn_curve.json') as f:
        curve = json.load(f)
    # before training, every 3 iterations and after the last (4)
    assert [p['iter'] for p in curve['points']] == [0, 3, 4]
    assert curve['num_train'] == 32 and curve['num_val'] == 8
    model = build_pretraining_model(str(tmp_path / 'epoch_2.pth'))
    facts = model.backbone.facts()
    offline = frozen_evaluation(model.backbone, *load_split(
        demo_data['imagenet'], facts['patch_grid'][0] * facts['patch_size']))
    last = curve['points'][-1]
    assert last['knn'] == offline['knn']
    assert last['knn_blocks'] == offline['knn_blocks']
    # the untrained point is another encoder's
    assert curve['points'][0]['knn_blocks'] != last['knn_blocks']


def test_training_is_the_same_with_the_hook(demo_data, tmp_path):
    hook = dict(type='OnlineKNNHook', data_root=demo_data['imagenet'], interval=1,
                num_train_per_class=3, num_val_per_class=1)
    with_hook = train(demo_data, tmp_path / 'a', [hook]).model.state_dict()
    without = train(demo_data, tmp_path / 'b', []).model.state_dict()
    assert with_hook.keys() == without.keys()
    assert all(torch.equal(with_hook[k], without[k]) for k in without)
    with open(tmp_path / 'a' / 'knn_curve.json') as f:
        curve = json.load(f)
    assert curve['num_train'] == 12 and curve['num_val'] == 4  # 4 classes
    assert [p['iter'] for p in curve['points']] == [0, 1, 2, 3, 4]


def test_bad_settings_are_named(demo_data, tmp_path):
    root = demo_data['imagenet']
    with pytest.raises(ValueError, match=r'OnlineKNNHook.interval: expected an int >= 1'):
        OnlineKNNHook(root, interval=0)
    with pytest.raises(FileNotFoundError, match=r'OnlineKNNHook.data_root: expected a folder '
                       r'with train/<class>/ and val/<class>/'):
        OnlineKNNHook(str(tmp_path))
    with pytest.raises(ValueError, match=r'OnlineKNNHook.num_val_per_class: expected an int'):
        OnlineKNNHook(root, num_val_per_class=0)
    with pytest.raises(ValueError, match=r'OnlineKNNHook.out_file: expected a file name '
                       r'ending in .json'):
        OnlineKNNHook(root, out_file='curve.txt')


def test_a_resumed_run_keeps_the_points_it_had(demo_data, tmp_path):
    hook = dict(type='OnlineKNNHook', data_root=demo_data['imagenet'], interval=1,
                num_train_per_class=3, num_val_per_class=1)
    cfg = tiny_runner_cfg(demo_data, tmp_path, max_epochs=1)  # 2 iterations
    cfg.custom_hooks = list(cfg.custom_hooks) + [hook]
    Runner.from_cfg(cfg).train()
    with open(tmp_path / 'knn_curve.json') as f:
        first = json.load(f)['points']
    assert [p['iter'] for p in first] == [0, 1, 2]
    cfg = tiny_runner_cfg(demo_data, tmp_path, max_epochs=2, resume=True)
    cfg.custom_hooks = list(cfg.custom_hooks) + [hook]
    Runner.from_cfg(cfg).train()  # resumes from epoch_1.pth at iteration 2
    with open(tmp_path / 'knn_curve.json') as f:
        points = json.load(f)['points']
    assert [p['iter'] for p in points] == [0, 1, 2, 3, 4]
    assert points[:3] == first  # kept as they were, not evaluated again
