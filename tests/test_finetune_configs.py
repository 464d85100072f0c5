"""ImageNet fine-tuning and linear-probing configs: what they inherit from mmpretrain's MAE
benchmarks, what they change, and a tiny run from a converted pretraining checkpoint."""
import math
import os.path as osp

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS, MODELS

from mim_deepsup.checkpoints import convert_checkpoint
from mim_deepsup.datasets.demo_data import SHAPES
from mim_deepsup.testing import ROOT, build_model, tiny_runner_cfg

MAE_BENCHMARKS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mae',
                          'benchmarks')
FINETUNE = 'vit-base-p16_8xb128-coslr-100e_in1k.py'
LINEAR = 'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'
TINY = 'vit-tiny-p4_1xb32-coslr-5e_demo.py'
# method: (pretraining run whose converted backbone is the default checkpoint,
#          fine-tuning layer decay, fine-tuning lr)
METHODS = {
    'deepmim': ('deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k', 0.6, 2e-3),
    'lut': ('lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k', 0.75, 4e-3),
    'ddae': ('ddae_vit-base-p16_8xb512-amp-coslr-800e_in1k', 0.65, 2e-3),
}
OUR_RUNTIME = dict(custom_imports=dict(imports=['mim_deepsup'], allow_failed_imports=False),
                   custom_hooks=[dict(type='WeightsOnlyCheckpointHook'),
                                 dict(type='NonFiniteLossHook')])


def ours(method, name):
    return osp.join(ROOT, 'configs', method, 'benchmarks', f'{method}_{name}')


def plain(cfg: Config) -> dict:
    """The config as builtins, without the `_scope_` that `mmpretrain::` inheritance adds."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != '_scope_'}
        if isinstance(x, (list, tuple)):
            return type(x)(strip(v) for v in x)
        return x
    return strip(cfg.to_dict())


def pop_what_every_config_changes(cfg: dict, mae: dict, run: str):
    """Check and remove what each of our configs changes in mmpretrain's ``mae``: our
    runtime and checkpoint hook, the strictly loading backbone and the converted
    checkpoint."""
    for key, value in OUR_RUNTIME.items():
        assert cfg.pop(key) == value
    assert cfg['default_hooks']['checkpoint'].pop('type') == 'AtomicCheckpointHook'
    assert mae['default_hooks']['checkpoint'].pop('type') == 'CheckpointHook'
    assert cfg['model']['backbone'].pop('type') == 'StrictLoadVisionTransformer'
    assert mae['model']['backbone'].pop('type') == 'VisionTransformer'
    init_cfg = cfg['model']['backbone']['init_cfg']
    assert init_cfg.pop('checkpoint') == f'work_dirs/{run}/backbone.pth'
    assert mae['model']['backbone']['init_cfg'].pop('checkpoint') == ''
    assert init_cfg == dict(type='Pretrained', prefix='backbone.')  # the converter's keys


def assert_same_config(a: dict, b: dict):
    for key in sorted(a.keys() | b.keys()):
        assert a.get(key) == b.get(key), key


@pytest.mark.parametrize('method', METHODS)
def test_finetune_config_is_mmpretrains_mae_recipe_plus_the_methods_values(
        method, monkeypatch):
    monkeypatch.delenv('PRETRAINED', raising=False)
    run, layer_decay, lr = METHODS[method]
    cfg = plain(Config.fromfile(ours(method, FINETUNE)))
    mae = plain(Config.fromfile(osp.join(MAE_BENCHMARKS, FINETUNE)))
    pop_what_every_config_changes(cfg, mae, run)  # what differs, and how
    paramwise, optimizer = cfg['optim_wrapper']['paramwise_cfg'], cfg['optim_wrapper']['optimizer']
    assert (paramwise['layer_decay_rate'], optimizer['lr']) == (layer_decay, lr)
    assert cfg['optim_wrapper']['constructor'] == 'LearningRateDecayOptimWrapperConstructor'
    assert 'type' not in cfg['optim_wrapper']  # OptimWrapper (fp32), as mmpretrain's
    mae['optim_wrapper']['paramwise_cfg']['layer_decay_rate'] = layer_decay
    mae['optim_wrapper']['optimizer']['lr'] = lr
    # everything else is mmpretrain's, e.g. these subtrees
    for key in ('head', 'train_cfg'):
        assert cfg['model'][key] == mae['model'][key]
    assert cfg['param_scheduler'] == mae['param_scheduler']
    assert cfg['train_dataloader']['dataset']['pipeline'] == \
        mae['train_dataloader']['dataset']['pipeline']
    assert cfg['train_cfg'] == mae['train_cfg'] == dict(by_epoch=True, max_epochs=100,
                                                        val_interval=1)
    assert_same_config(cfg, mae)


@pytest.mark.parametrize('method', METHODS)
def test_linear_config_is_mmpretrains_linear_recipe_with_our_checkpoint(method, monkeypatch):
    monkeypatch.delenv('PRETRAINED', raising=False)
    run = METHODS[method][0]
    cfg = plain(Config.fromfile(ours(method, LINEAR)))
    mae = plain(Config.fromfile(osp.join(MAE_BENCHMARKS, LINEAR)))
    pop_what_every_config_changes(cfg, mae, run)
    assert cfg['model']['backbone']['frozen_stages'] == 12
    assert cfg['optim_wrapper']['optimizer'] == dict(type='LARS', lr=6.4, weight_decay=0.0,
                                                     momentum=0.9)
    assert_same_config(cfg, mae)


@pytest.mark.parametrize('name', [FINETUNE, LINEAR])
def test_inherited_dataloaders_build_and_collate(name, demo_data):
    """mmpretrain's pipelines at 224 px, loaded through `mmpretrain::` (whose `_scope_`
    would break a `collate_fn` dict; these configs have none: pseudo_collate)."""
    init_default_scope('mmpretrain')
    loader = Config.fromfile(ours('lut', name)).train_dataloader
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = demo_data['imagenet']
    batch = next(iter(Runner.build_dataloader(loader, seed=0)))
    assert [tuple(x.shape) for x in batch['inputs']] == [(3, 224, 224)] * 4
    assert len(batch['data_samples']) == 4


@pytest.mark.parametrize('name', [FINETUNE, LINEAR, TINY])
@pytest.mark.parametrize('method', METHODS)
def test_pretrained_environment_variable_sets_the_checkpoint(method, name, monkeypatch):
    monkeypatch.setenv('PRETRAINED', '/elsewhere/converted backbone.pth')
    cfg = Config.fromfile(ours(method, name))
    assert cfg.model.backbone.init_cfg.checkpoint == '/elsewhere/converted backbone.pth'


@pytest.mark.parametrize('method', METHODS)
def test_tiny_config_shrinks_the_methods_finetune_config(method, monkeypatch):
    monkeypatch.delenv('PRETRAINED', raising=False)
    tiny = Config.fromfile(ours(method, TINY))
    vit_b = plain(Config.fromfile(ours(method, FINETUNE)))
    pretrain = Config.fromfile(
        osp.join(ROOT, 'configs', method, f'{method}_vit-tiny-p4_1xb32-20e_demo.py'))
    # the architecture of the tiny pretraining configs, so their converted backbone loads
    backbone = tiny.model.backbone
    assert backbone.arch == pretrain.model.backbone.arch
    assert (backbone.img_size, backbone.patch_size) == (pretrain.model.backbone.img_size,
                                                        pretrain.model.backbone.patch_size)
    assert (tiny.model.head.num_classes, tiny.model.head.in_channels) == (4, 64)
    assert tiny.data_preprocessor.num_classes == 4
    assert tiny.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = tiny[loader].dataset
        assert dataset.data_root == 'data/demo/imagenet'
        assert tuple(dataset.metainfo.classes) == SHAPES
    assert tiny.val_evaluator.topk == tiny.test_evaluator.topk == (1, )
    assert tiny.train_cfg.max_epochs == 5 and tiny.param_scheduler[-1].end == 5
    assert tiny.env_cfg.dist_cfg.backend == 'gloo'
    # the method's values (restated on the tiny base) and the rest of the recipe are its
    # ViT-B config's
    assert tiny.model.backbone.init_cfg.checkpoint == \
        f'work_dirs/{method}_vit-tiny-p4_1xb32-20e_demo/backbone.pth'
    shrunk = {'model', 'data_preprocessor', 'train_dataloader', 'val_dataloader',
              'test_dataloader', 'val_evaluator', 'test_evaluator', 'param_scheduler',
              'train_cfg', 'default_hooks', 'env_cfg', 'demo'}
    tiny = plain(tiny)
    tiny_backbone, vit_b_backbone = tiny['model']['backbone'], vit_b['model']['backbone']
    assert tiny_backbone['type'] == vit_b_backbone['type'] == 'StrictLoadVisionTransformer'
    assert tiny_backbone['init_cfg']['prefix'] == vit_b_backbone['init_cfg']['prefix']
    assert tiny['model']['train_cfg'] == vit_b['model']['train_cfg']  # mixup, cutmix
    assert tiny['model']['head']['loss'] == vit_b['model']['head']['loss']
    assert_same_config({k: v for k, v in tiny.items() if k not in shrunk},
                       {k: v for k, v in vit_b.items() if k not in shrunk})


@HOOKS.register_module(force=True)
class FinetuneProbe(Hook):
    """Test hook: the backbone's weights when training starts, and each validation."""

    def __init__(self):
        self.start_weights = None
        self.val_metrics = []

    def before_train(self, runner):
        self.start_weights = {k: v.clone() for k, v in runner.model.backbone.state_dict().items()}

    def after_val_epoch(self, runner, metrics=None):
        self.val_metrics.append(dict(metrics))


def probe(runner):
    return next(h for h in runner.hooks if isinstance(h, FinetuneProbe))


@pytest.fixture(scope='module')
def converted_backbone(demo_data, tmp_path_factory):
    """Two LUT pretraining iterations through the Runner, converted for mmpretrain."""
    work_dir = tmp_path_factory.mktemp('lut_pretrain')
    cfg = tiny_runner_cfg(demo_data, work_dir, max_epochs=1,
                          config=osp.join(ROOT, 'configs', 'lut',
                                          'lut_vit-tiny-p4_1xb32-20e_demo.py'))
    Runner.from_cfg(cfg).train()
    dst = str(work_dir / 'backbone.pth')
    convert_checkpoint(str(work_dir / 'epoch_1.pth'), dst)
    return dst, torch.load(dst, weights_only=True)['state_dict']


def tiny_finetune_cfg(demo_data, work_dir, **overrides):
    cfg = tiny_runner_cfg(demo_data, work_dir, config=ours('lut', TINY), **overrides)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=8)
        loader.dataset.data_root = demo_data['imagenet']
    cfg.custom_hooks.append(dict(type='FinetuneProbe'))
    return cfg


def test_tiny_finetuning_starts_from_the_converted_backbone_and_resumes(
        converted_backbone, demo_data, tmp_path, monkeypatch):
    path, converted = converted_backbone
    monkeypatch.setenv('PRETRAINED', path)
    # 2 epochs x 2 iterations (32 images, batch 16), validation on 8 images after each
    runner = Runner.from_cfg(tiny_finetune_cfg(demo_data, tmp_path / 'full'))
    runner.train()
    start = probe(runner).start_weights
    # every pretrained tensor the fine-tuning ViT has was loaded; ln1 (the pretraining
    # final norm) is not part of it (final_norm=False), ln2 is new
    assert {f'backbone.{k}' for k in start} ^ set(converted) == {
        'backbone.ln1.weight', 'backbone.ln1.bias', 'backbone.ln2.weight', 'backbone.ln2.bias'}
    for key in start.keys() - {'ln2.weight', 'ln2.bias'}:
        assert torch.equal(start[key], converted[f'backbone.{key}']), key
    assert not torch.equal(runner.model.backbone.layers[0].attn.qkv.weight,
                           converted['backbone.layers.0.attn.qkv.weight'])  # it trained
    metrics = probe(runner).val_metrics
    assert len(metrics) == 2
    top1 = metrics[-1]['accuracy/top1']
    print(f'tiny LUT fine-tuning, 2 epochs: val accuracy/top1 {top1:.2f}')
    assert math.isfinite(top1) and 0 <= top1 <= 100

    # resume from epoch 1 (the checkpoint must load with weights_only=True) for epoch 2
    epoch_1 = str(tmp_path / 'full' / 'epoch_1.pth')
    assert torch.serialization.get_unsafe_globals_in_checkpoint(epoch_1) == []
    resumed = Runner.from_cfg(tiny_finetune_cfg(demo_data, tmp_path / 'resumed', resume=True,
                                                load_from=epoch_1))
    resumed.train()
    assert (resumed.epoch, resumed.iter) == (2, 4)
    saved = torch.load(epoch_1, weights_only=True)['state_dict']
    assert not torch.equal(saved['backbone.layers.0.attn.qkv.weight'],
                           converted['backbone.layers.0.attn.qkv.weight'])
    for key, value in probe(resumed).start_weights.items():  # the checkpoint's, not PRETRAINED
        assert torch.equal(value, saved[f'backbone.{key}']), key
    # the message hub came back too: epoch 1's logged losses, then epoch 2's
    full_losses = runner.message_hub.get_scalar('train/loss').data[0].tolist()
    resumed_losses = resumed.message_hub.get_scalar('train/loss').data[0].tolist()
    assert len(full_losses) == len(resumed_losses) == 4
    assert resumed_losses[:2] == full_losses[:2]
    assert 'accuracy/top1' in probe(resumed).val_metrics[-1]


def test_converted_backbone_loads_into_the_linear_probing_vit_exactly(converted_backbone):
    _, converted = converted_backbone
    backbone = Config.fromfile(ours('lut', LINEAR)).model.backbone
    backbone.update(arch=dict(embed_dims=64, num_layers=6, num_heads=4,
                              feedforward_channels=256), img_size=32, patch_size=4,
                    frozen_stages=6)  # all blocks, as 12 of ViT-B's 12
    vit = MODELS.build(backbone)
    # frozen ViT with its final norm: every converted key is used, none is missing
    vit.load_state_dict({k[len('backbone.'):]: v for k, v in converted.items()}, strict=True)
    assert all(not p.requires_grad for p in vit.parameters())


def test_a_checkpoint_that_does_not_fit_is_refused_before_training(
        converted_backbone, tmp_path):
    """mmengine's Pretrained init loads with strict=False and only logs: a BEiT-v2 encoder
    or an mmseg-converted file would fine-tune a half-random ViT."""
    path, _ = converted_backbone
    tiny_vit = dict(type='StrictLoadVisionTransformer', arch=dict(
        embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256), img_size=32,
        patch_size=4, out_type='avg_featmap', final_norm=False)

    def init(checkpoint):
        MODELS.build(dict(tiny_vit, init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.'))).init_weights()

    init(path)  # the converted LUT encoder fits (ln1 unused, ln2 new: by design)
    beit = build_model(Config.fromfile(
        osp.join(ROOT, 'configs', 'beitv2', 'beitv2_vit-tiny-p4_1xb32-20e_demo.py')).model)
    torch.save({'state_dict': beit.state_dict()}, tmp_path / 'beit_epoch.pth')
    convert_checkpoint(str(tmp_path / 'beit_epoch.pth'), str(tmp_path / 'beit.pth'))
    with pytest.raises(ValueError, match=r"(?s)does not fit.*missing keys \['layers\.0\.attn"
                                         r"\.qkv\.bias'.*unexpected keys"):
        init(str(tmp_path / 'beit.pth'))
    mmseg_file = str(tmp_path / 'lut_mmseg.pth')
    convert_checkpoint(path, mmseg_file, target='mmseg')  # no backbone. prefix: none found
    with pytest.raises(ValueError, match=r'76 missing keys \[.cls_token'):
        init(mmseg_file)
    with pytest.raises(FileNotFoundError, match='model.backbone.init_cfg.checkpoint: .*nothing'):
        init(str(tmp_path / 'nothing.pth'))
