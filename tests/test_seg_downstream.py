"""Segmentation downstream: mmseg checkpoints, the authors' timm-named releases, UperNet
configs and the whole pretrain-to-segmentation path."""
import argparse
import copy
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import mim_deepsup.seg  # noqa: F401  (registers StrictLoadMAE / StrictLoadBEiT)
from mim_deepsup.checkpoints import convert_checkpoint
from mim_deepsup.testing import ROOT, build_model

timm = pytest.importorskip('timm')
import mmseg  # noqa: E402
from mmseg.registry import MODELS as SEG_MODELS  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs')
TINY_LUT = osp.join(CONFIGS, 'lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
TINY_BEIT = osp.join(CONFIGS, 'beitv2', 'beitv2_vit-tiny-p4_1xb32-20e_demo.py')
TINY = dict(embed_dims=64, num_layers=6, num_heads=4)
METHODS = ('deepmim', 'lut', 'ddae')
MMSEG_MAE_UPERNET = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'mae',
                             'mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py')


def seg_config(method, size='base'):
    name = ('upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512' if size == 'base'
            else 'upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64')
    return osp.join(CONFIGS, method, 'benchmarks', f'{method}_{name}.py')


def mmseg_vit(kind, checkpoint, out_indices=(1, 3, 5)):
    """mmseg's UperNet ViT backbone as the MAE / BEiT segmentation configs build it."""
    backbone = SEG_MODELS.build(dict(
        type=f'mmseg.StrictLoad{kind}', img_size=32, patch_size=4, mlp_ratio=4,
        out_indices=list(out_indices), norm_cfg=dict(type='LN', eps=1e-6),
        init_values=1.0 if kind == 'MAE' else 0.1, pretrained=checkpoint, **TINY))
    backbone.init_weights()
    backbone.eval()  # mmseg's BEiT.train returns None
    return backbone


def plain_mmseg_load(kind, checkpoint):
    """What mmseg's own backbone (``MAE`` / ``BEiT``) reports loading the file's
    ``state_dict`` as it is: the missing and unexpected keys."""
    backbone = SEG_MODELS.build(dict(type=f'mmseg.{kind}', img_size=32, patch_size=4, mlp_ratio=4,
                                     norm_cfg=dict(type='LN', eps=1e-6), **TINY))
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    return backbone.load_state_dict(state, strict=False)


def unscoped(value):
    """A config value without the ``_scope_`` keys mmengine injects into inherited dicts."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [unscoped(v) for v in value]
    return value


def patch_maps(tokens):
    """(B, 1 + N, C) block output -> (B, C, h, w) patch map, as mmseg's backbones return."""
    b, n, c = tokens.shape
    side = int((n - 1)**0.5)
    return tokens[:, 1:].transpose(1, 2).reshape(b, c, side, side)


@pytest.fixture(scope='module')
def images():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope='module')
def lut_checkpoint(tmp_path_factory):
    model = build_model(Config.fromfile(TINY_LUT).model)
    with torch.no_grad():  # teacher != student, and biases that are not all zero
        for p in model.backbone.parameters():
            p.add_(0.02 * torch.randn_like(p))
    path = tmp_path_factory.mktemp('lut') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return model.eval(), str(path)


# ---------------------------------------------------------------------- our checkpoints
def test_mmseg_loads_the_converted_encoder_with_only_the_designed_keys_missing(
        lut_checkpoint, tmp_path, images):
    model, src = lut_checkpoint
    dst = str(tmp_path / 'mmseg.pth')
    report = convert_checkpoint(src, dst, target='mmseg')
    student = model.backbone.state_dict()
    assert report['kept'] == sorted(k for k in student if not k.startswith('ln1.'))
    assert {'backbone.ln1.weight', 'backbone.ln1.bias'} <= set(report['dropped'])
    assert ('backbone.cls_token', 'cls_token') in report['renamed']

    result = plain_mmseg_load('MAE', dst)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        f'layers.{i}.{part}' for i in range(6) for part in (
            'gamma_1', 'gamma_2', 'attn.relative_position_bias_table',
            'attn.relative_position_index'))

    backbone = mmseg_vit('MAE', dst)  # through mmseg's own Pretrained path
    loaded = backbone.state_dict()
    for key in ('patch_embed.projection.weight', 'layers.3.attn.qkv.bias',
                'layers.5.ffn.layers.1.weight', 'pos_embed', 'cls_token'):
        assert torch.equal(loaded[key], student[key]), key
    with torch.no_grad():
        features = backbone(images)
        _, taps = model.backbone.forward_taps(images, taps=(2, 4, 6), mask=None)
    for feature, block in zip(features, (2, 4, 6)):
        torch.testing.assert_close(feature, patch_maps(taps[block]), atol=1e-5, rtol=1e-5)


def test_an_unconverted_checkpoint_is_refused_not_silently_ignored(lut_checkpoint, tmp_path):
    _, src = lut_checkpoint
    dst = str(tmp_path / 'mmpretrain.pth')
    convert_checkpoint(src, dst, target='mmpretrain')  # backbone.* keys: mmseg's MAE
    with pytest.raises(ValueError, match=r'(?s)unexpected keys.*--target mmseg'):
        mmseg_vit('MAE', dst)  # would load nothing and train from random weights


def test_beitv2_encoder_converts_to_mmseg_beit_with_equal_features(tmp_path, images):
    model = build_model(Config.fromfile(TINY_BEIT).model).eval()
    with torch.no_grad():  # a relative position bias and q/v biases that matter
        for p in model.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    src, dst = tmp_path / 'beit.pth', str(tmp_path / 'beit_mmseg.pth')
    torch.save(dict(state_dict=model.state_dict()), src)
    report = convert_checkpoint(str(src), dst, target='mmseg')
    assert 'backbone.mask_token' in report['dropped']
    table = 'backbone.rel_pos_bias.relative_position_bias_table'
    assert (table, 'layers.5.attn.relative_position_bias_table') in report['renamed']
    result = plain_mmseg_load('BEiT', dst)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        f'layers.{i}.attn.relative_position_index' for i in range(6))
    backbone = mmseg_vit('BEiT', dst)
    with pytest.raises(ValueError, match='holds a BEiT encoder.*use StrictLoadBEiT'):
        mmseg_vit('MAE', dst)  # the layer scale and q/v biases would be half-loaded
    unconverted = str(tmp_path / 'beit_mmpretrain.pth')
    convert_checkpoint(str(src), unconverted, target='mmpretrain')
    with pytest.raises(ValueError, match=r'(?s)backbone\.rel_pos_bias.*--target mmseg'):
        mmseg_vit('BEiT', unconverted)  # mmseg alone: a bare KeyError in its resize
    with torch.no_grad():
        features = backbone(images)
        _, taps = model.backbone.forward_taps(images, taps=(2, 4, 6), mask=None)
    for feature, block in zip(features, (2, 4, 6)):
        torch.testing.assert_close(feature, patch_maps(taps[block]), atol=1e-5, rtol=1e-5)


def test_cubic_grid_interp2d_keeps_interp2d_orientation_and_is_exact_on_cubics():
    from mim_deepsup.seg.backbones.strict_load_vit import CubicGridInterp2d
    x = np.array([-6.5, -3.2, -1.0, 0.0, 1.0, 3.2, 6.5])  # geometric, as mmseg's BEiT uses
    y = np.array([-7.0, -4.0, -1.5, 0.0, 1.5, 4.0, 7.0])

    def f(xx, yy):  # cubic in each variable, not symmetric in x and y
        return xx**2 * yy - yy**3 / 10 + 3 * xx
    z = f(x[None, :], y[:, None])  # interp2d's layout: z[i, j] = f(x[j], y[i])
    dx, dy = np.arange(-6.0, 6.1), np.arange(-5.0, 5.1)
    np.testing.assert_allclose(CubicGridInterp2d(x, y, z)(dx, dy),
                               f(dx[None, :], dy[:, None]), atol=1e-9)


def test_beit_loads_a_table_of_another_grid(tmp_path, images):
    """224 px pretraining -> 640 px segmentation, here 32 -> 64 px: mmseg resizes the
    relative position bias table with interp2d, which SciPy 1.14 removed."""
    model = build_model(Config.fromfile(TINY_BEIT).model)
    shared = model.backbone.rel_pos_bias.relative_position_bias_table
    with torch.no_grad():
        shared.normal_()
    src, dst = tmp_path / 'beit.pth', str(tmp_path / 'beit_mmseg.pth')
    torch.save(dict(state_dict=model.state_dict()), src)
    convert_checkpoint(str(src), dst, target='mmseg')
    backbone = SEG_MODELS.build(dict(
        type='mmseg.StrictLoadBEiT', img_size=64, patch_size=4, mlp_ratio=4,
        out_indices=[5], norm_cfg=dict(type='LN', eps=1e-6), pretrained=dst, **TINY))
    backbone.init_weights()
    table = backbone.layers[0].attn.relative_position_bias_table
    assert table.shape == ((2 * 16 - 1)**2 + 3, 4)
    assert torch.equal(table[-3:], shared[-3:])  # cls rows are carried over as they are
    with torch.no_grad():
        assert torch.isfinite(backbone(torch.randn(1, 3, 64, 64))[0]).all()


# ------------------------------------------------------- the authors' timm-named releases
@pytest.fixture(scope='module')
def timm_release(tmp_path_factory):
    """A checkpoint as the MAE / LUT scripts save it: timm names under ``model`` (with the
    decoder and LUT's projector ``head.*`` / predictor), an EMA copy under ``model_ema``
    with its ``ema.`` prefix, and their argparse arguments."""
    torch.manual_seed(0)
    vit = timm_vit()
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ema = copy.deepcopy(vit)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.02 * torch.randn_like(p))
    extras = {'decoder_embed.weight': torch.zeros(32, 64), 'mask_token': torch.zeros(1, 1, 32),
              'head.0.weight': torch.zeros(128, 64), 'predictor.0.weight': torch.zeros(128, 64)}
    path = tmp_path_factory.mktemp('timm') / 'checkpoint-1599.pth'
    torch.save({'model': {**vit.state_dict(), **extras},
                'model_ema': {f'ema.{k}': v for k, v in ema.state_dict().items()},
                'epoch': 1599,
                'args': argparse.Namespace(model='lut_vit_base_patch16', blr=1.5e-4)}, path)
    return dict(student=vit.eval(), teacher=ema.eval()), str(path)


def timm_vit():
    return timm.create_model('vit_base_patch16_224', pretrained=False, img_size=32,
                             patch_size=4, embed_dim=64, depth=6, num_heads=4, num_classes=0)


def timm_features(vit, images, indices=(1, 3, 5)):
    return vit.forward_intermediates(images, indices=list(indices), norm=False,
                                     output_fmt='NCHW', intermediates_only=True)


def test_timm_release_converts_to_mmpretrain_with_equal_features(timm_release, tmp_path,
                                                                 images):
    vit, src = timm_release[0]['student'], timm_release[1]
    dst = str(tmp_path / 'backbone.pth')
    report = convert_checkpoint(src, dst, target='mmpretrain')
    assert report['dropped'] == ['model.decoder_embed.weight', 'model.head.0.weight',
                                 'model.mask_token', 'model.predictor.0.weight']
    assert ('model.blocks.2.mlp.fc1.weight', 'backbone.layers.2.ffn.layers.0.0.weight'
            ) in report['renamed']
    assert ('model.norm.weight', 'backbone.ln1.weight') in report['renamed']
    encoder = PRETRAIN_MODELS.build(dict(
        type='VisionTransformer', arch=dict(TINY, feedforward_channels=256), img_size=32,
        patch_size=4, out_indices=[1, 3, 5, 5], out_type='featmap', final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')))
    encoder.init_weights()
    normed = PRETRAIN_MODELS.build(dict(  # the final norm is carried over too
        type='VisionTransformer', arch=dict(TINY, feedforward_channels=256),
        img_size=32, patch_size=4, out_type='raw', final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')))
    normed.init_weights()
    encoder.eval()
    normed.eval()
    with torch.no_grad():
        features = encoder(images)
        reference = timm_features(vit, images)
        final = normed(images)[0]
    for feature, ref in zip(features, reference):
        torch.testing.assert_close(feature, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final, vit.forward_features(images), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('source', ['student', 'teacher'])
def test_timm_release_converts_to_mmseg_with_equal_features(timm_release, tmp_path, images,
                                                            source):
    vits, src = timm_release
    vit = vits[source]
    dst = str(tmp_path / 'mmseg.pth')
    report = convert_checkpoint(src, dst, target='mmseg', source=source)
    norm = 'model.norm.weight' if source == 'student' else 'model_ema.ema.norm.weight'
    assert norm in report['dropped']  # UperNet reads raw block outputs; named as in the file
    backbone = mmseg_vit('MAE', dst)
    with torch.no_grad():
        for feature, ref in zip(backbone(images), timm_features(vit, images)):
            torch.testing.assert_close(feature, ref, atol=1e-5, rtol=1e-5)


def test_timm_qv_bias_and_unknown_keys(timm_release, tmp_path, images):
    vit = copy.deepcopy(timm_release[0]['student'])
    state = {k: v.clone() for k, v in vit.state_dict().items()}
    for i in range(6):  # a BEiT-style split bias: q and v only, k = 0
        q, k, v = state.pop(f'blocks.{i}.attn.qkv.bias').chunk(3)
        state[f'blocks.{i}.attn.q_bias'], state[f'blocks.{i}.attn.v_bias'] = q, v
        vit.blocks[i].attn.qkv.bias.data.copy_(torch.cat([q, torch.zeros_like(k), v]))
    path = tmp_path / 'qv.pth'
    torch.save({'model': state}, path)
    dst = str(tmp_path / 'qv_mmseg.pth')
    convert_checkpoint(str(path), dst, target='mmseg')
    with torch.no_grad():
        for feature, ref in zip(mmseg_vit('MAE', dst)(images), timm_features(vit, images)):
            torch.testing.assert_close(feature, ref, atol=1e-5, rtol=1e-5)
    state['blocks.0.ls1.gamma'] = torch.ones(64)  # layer scale: not mapped, so refused
    torch.save({'model': state}, path)
    with pytest.raises(ValueError, match=r'blocks\.0\.ls1\.gamma: a timm ViT block key'):
        convert_checkpoint(str(path), str(tmp_path / 'never.pth'), target='mmseg')
    assert not (tmp_path / 'never.pth').exists()
    torch.save({'model': dict(vit.state_dict())}, path)
    with pytest.raises(ValueError, match='no EMA weights'):
        convert_checkpoint(str(path), str(tmp_path / 'never.pth'), source='teacher')
    bad_files = {  # what a release could hold that the converter must not guess about
        r'module\.cls_token and ema\.cls_token both name cls_token': {
            **{f'module.{k}': v for k, v in vit.state_dict().items()},
            **{f'ema.{k}': v for k, v in vit.state_dict().items()}},
        r'reg_token: part of a timm ViT encoder': dict(vit.state_dict(),
                                                     reg_token=torch.zeros(1, 4, 64)),
        r'blocks\.2\.attn: q_bias and v_bias come in pairs': {
            **{k: v for k, v in vit.state_dict().items() if k != 'blocks.2.attn.qkv.bias'},
            'blocks.2.attn.q_bias': torch.zeros(64)},
    }
    for message, state in bad_files.items():
        torch.save({'model': state}, path)
        with pytest.raises(ValueError, match=f'qv.pth: {message}'):
            convert_checkpoint(str(path), str(tmp_path / 'never.pth'))
    assert not (tmp_path / 'never.pth').exists()


def test_a_pickled_callable_is_refused_and_not_run(tmp_path):
    marker = tmp_path / 'ran'

    class Payload:
        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    path = tmp_path / 'hostile.pth'
    torch.save({'model': {'x': torch.zeros(1)}, 'args': Payload()}, path)
    with pytest.raises(ValueError, match='not a loadable checkpoint'):
        convert_checkpoint(str(path), str(tmp_path / 'out.pth'))
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize('method', METHODS)
def test_segmentation_configs_state_only_what_differs(method, monkeypatch):
    monkeypatch.delenv('PRETRAINED', raising=False)
    base = Config.fromfile(MMSEG_MAE_UPERNET)
    cfg = Config.fromfile(seg_config(method))
    assert cfg.model.backbone.type == 'StrictLoadMAE'
    assert cfg.model.pretrained == f'work_dirs/pretrained/{method}_mmseg.pth'
    # AMP for real: mmseg 1.x ignores the inherited fp16 key
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.get('fp16') is None
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    lr, decay = (5e-5, 0.9) if method == 'deepmim' else (1e-4, 0.65)  # METHODS.md
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == decay
    for key in ('train_cfg', 'param_scheduler', 'train_dataloader', 'test_cfg'):
        assert unscoped(cfg[key]) == unscoped(base[key]), key
    assert cfg.model.backbone.out_indices == [3, 5, 7, 11]
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    monkeypatch.setenv('PRETRAINED', '/ckpts/x_mmseg.pth')
    assert Config.fromfile(seg_config(method)).model.pretrained == '/ckpts/x_mmseg.pth'
    # the tiny CPU variant keeps the method's optimizer and layer decay
    tiny = Config.fromfile(seg_config(method, 'tiny'))
    assert tiny.optim_wrapper.optimizer == cfg.optim_wrapper.optimizer
    assert tiny.optim_wrapper.paramwise_cfg == dict(num_layers=6, layer_decay_rate=decay)
    assert tiny.optim_wrapper.constructor == cfg.optim_wrapper.constructor


@pytest.mark.slow
def test_the_pretraining_path_does_not_import_mmseg():
    code = ('import sys, mim_deepsup, mim_deepsup.checkpoints; '
            'import tools.convert_checkpoint; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "mmseg"))')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == '[]'


# ------------------------------------------------------------------------- the whole path
@pytest.mark.slow
def test_pretrain_to_seg_runs_end_to_end(demo_data, tmp_path):
    """Tiny LUT pretraining -> conversion -> UperNet fine-tuning -> mIoU, through the
    Runners, with the command a user runs."""
    work = tmp_path / 'p2s'
    env = dict(os.environ, PYTHON=sys.executable, PRETRAIN_OPTS=' '.join([
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16',
        f'train_dataloader.dataset.data_root={demo_data["imagenet"]}/']),
        SEG_OPTS=' '.join([
            'train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'train_dataloader.batch_size=4',
            f'train_dataloader.dataset.data_root={demo_data["ade"]}',
            f'val_dataloader.dataset.data_root={demo_data["ade"]}',
            f'test_dataloader.dataset.data_root={demo_data["ade"]}']))
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'pretrain_to_seg.sh'), TINY_LUT,
         seg_config('lut', 'tiny'), str(work)],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r'kept 76 backbone tensors \(student\)', out)
    assert 'StrictLoadMAE: loaded 76 tensors' in out + proc.stderr
    metrics = json.loads((work / 'seg' / 'metrics.json').read_text())
    assert 0 <= metrics['mIoU'] <= 100 and 0 < metrics['aAcc'] <= 100
    line = re.search(r'segmentation result: .*mIoU (\d+\.\d+)', out)
    assert line and abs(float(line.group(1)) - metrics['mIoU']) < 0.01
    print(line.group(0))
