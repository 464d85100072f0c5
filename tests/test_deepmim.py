"""DeepMIM: auxiliary decoders, their inputs, losses, gradients, targets, configs, errors."""
import copy
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mim_deepsup.testing import ROOT, TINY_MAE, manual_masked_pass, tiny_runner_cfg
from mim_deepsup.testing import build_model as build
from mim_deepsup.testing import config_differences as differing

TINY_DEEPMIM = osp.join(ROOT, 'configs', 'deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py')
# a CLIP-like frozen ViT at the tiny student's grid (8 x 8 patches of 4 px), random weights
TINY_CLIP = dict(
    type='FrozenFeatureTarget',
    backbone=dict(type='VisionTransformer',
                  arch=dict(embed_dims=48, num_layers=2, num_heads=4, feedforward_channels=96),
                  img_size=32, patch_size=4, pre_norm=True, out_type='raw',
                  layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU'))),
    projection=dict(type='TokenProjection', in_channels=48, out_channels=24),
    mean=[122.770938, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305],
    random_weights=True)
COSINE_HEAD = dict(type='MIMHead',
                   loss=dict(type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0))


def model_cfg(config=TINY_DEEPMIM, **changes):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(model=changes))
    return cfg.model


def deepmim_cfg(**component):
    return model_cfg(supervisions=dict(deepmim=component))


def images(batch=4, size=32, seed=1):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def samples(n=4):
    return [DataSample() for _ in range(n)]


def norm_pix_patches(x, p=4):
    """MAE's target by hand: (B, N, p*p*3) patches in row-major order, each normalised."""
    b, c, h, w = x.shape
    patches = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    patches = patches.reshape(b, (h // p) * (w // p), p * p * c)
    mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
    return (patches - mean) / (var + 1e-6).sqrt()


def masked_mse(pred, target, mask):
    per_patch = ((pred - target)**2).mean(-1)  # (B, N)
    return (per_patch * mask).sum() / mask.sum()


def test_default_taps_and_decoder_shapes():
    model = build(deepmim_cfg())
    component = model.supervisions['deepmim']
    assert component.taps == (3, 4, 5) and model.taps == (3, 4, 5)  # 1/2, 2/3, 5/6 of 6
    decoder = component.decoders.decoders['l3']
    assert decoder.decoder_embed.in_features == 64 and len(decoder.decoder_blocks) == 2
    assert decoder.decoder_pred.out_features == 4 * 4 * 3
    # the fixed sin-cos position embedding is one tensor shared by every auxiliary decoder
    pos = [d.decoder_pos_embed for d in component.decoders.decoders.values()]
    assert all(p is pos[0] for p in pos) and not pos[0].requires_grad
    assert torch.equal(pos[0], model.neck.decoder_pos_embed)  # same values as the final's
    # for other depths the same fractions of depth (ViT-B 6, 8, 10; ViT-L 12, 16, 20)
    for layers, taps in ((12, (6, 8, 10)), (24, (12, 16, 20))):
        built = MODELS.build(dict(type='DeepMIMSupervision', num_layers=layers, embed_dims=32,
                                  num_patches=16, patch_size=4, decoder='light'))
        assert built.taps == taps
        assert built.decoders.decoders[f'l{taps[0]}'].decoder_embed.out_features == 256


def test_backbone_state_dict_keys_are_mae_vit():
    model = build(deepmim_cfg())
    mae_vit = MODELS.build(dict(model_cfg().backbone, type='MAEViT'))
    keys = [k[len('backbone.'):] for k in model.state_dict() if k.startswith('backbone.')]
    assert keys == list(mae_vit.state_dict())
    assert any(k.startswith('supervisions.deepmim.decoders.') for k in model.state_dict())


def test_each_decoder_receives_exactly_its_blocks_output():
    model = build(deepmim_cfg())
    seen = {}
    for name, decoder in model.supervisions['deepmim'].decoders.decoders.items():
        decoder.register_forward_pre_hook(
            lambda m, args, name=name: seen.__setitem__(name, args))
    x = images()
    torch.manual_seed(5)
    model.loss(x, samples())
    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=5)
    for block in (3, 4, 5):
        tokens, restore = seen[f'l{block}']
        assert torch.equal(tokens, outputs[block]), block  # raw block output, no norm
        assert torch.equal(restore, ids_restore)
        assert tokens.shape == (4, 1 + 16, 64)


def test_total_loss_is_the_hand_computed_sum_of_masked_losses():
    model = build(deepmim_cfg(weights=[0.5, 2.0, 1.0]))
    x = images()
    torch.manual_seed(11)
    losses = model.loss(x, samples())
    assert sorted(losses) == ['loss_deepmim_l3', 'loss_deepmim_l4', 'loss_deepmim_l5',
                              'loss_mim']
    total, log_vars = model.parse_losses(losses)

    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=11)
    target = norm_pix_patches(x)
    decoders = model.supervisions['deepmim'].decoders.decoders
    expected = {}
    for block, weight in ((3, 0.5), (4, 2.0), (5, 1.0)):
        pred = decoders[f'l{block}'](outputs[block], ids_restore)
        expected[block] = weight * masked_mse(pred, target, mask)
        assert torch.allclose(losses[f'loss_deepmim_l{block}'], expected[block], atol=1e-6)
    final = masked_mse(model.neck(model.backbone.norm1(outputs[6]), ids_restore), target, mask)
    assert torch.allclose(losses['loss_mim'], final, atol=1e-6)
    assert torch.allclose(total, final + sum(expected.values()), atol=1e-5)
    assert torch.equal(log_vars['loss'], total.detach())  # the logged loss is the total
    assert mask.sum() == 4 * 48  # 75% of 64 patches: only masked patches count
    assert set(log_vars) >= {'loss_mim', 'loss_deepmim_l3', 'loss_deepmim_l4',
                             'loss_deepmim_l5'}


def test_auxiliary_gradients_reach_only_the_blocks_below_the_tap():
    model = build(deepmim_cfg())
    x = images()
    torch.manual_seed(2)
    losses = model.loss(x, samples())
    losses['loss_deepmim_l3'].backward()

    def grad_norm(module):
        grads = [p.grad.abs().sum() for p in module.parameters() if p.grad is not None]
        return float(sum(grads)) if grads else 0.0

    layers = model.backbone.layers
    assert all(grad_norm(layers[i]) > 0 for i in range(3))  # blocks 1-3
    assert all(grad_norm(layers[i]) == 0 for i in range(3, 6))  # blocks 4-6
    assert grad_norm(model.backbone.patch_embed) > 0
    assert grad_norm(model.backbone.ln1) == 0 and grad_norm(model.neck) == 0
    decoders = model.supervisions['deepmim'].decoders.decoders
    assert grad_norm(decoders['l3']) > 0
    assert grad_norm(decoders['l4']) == 0 and grad_norm(decoders['l5']) == 0


@pytest.fixture
def frozen_mae_checkpoint(tmp_path):
    """A 'pretrained' tiny MAE: the tiny config's weights from another seed, saved."""
    mae = build(model_cfg(TINY_MAE), seed=42)
    path = tmp_path / 'frozen_mae.pth'
    torch.save({'state_dict': mae.state_dict()}, path)
    return str(path), mae


RANDOM_FROZEN_MAE = dict(type='DeepMIMHybridTarget', model=TINY_MAE, random_weights=True)


def test_hybrid_target_arithmetic(frozen_mae_checkpoint):
    path, source = frozen_mae_checkpoint
    hybrid = dict(type='DeepMIMHybridTarget', model=TINY_MAE, checkpoint=path)
    model = build(deepmim_cfg(hybrid=hybrid, hybrid_alphas=[1.0, 0.0, 0.25]))
    frozen = model.supervisions['deepmim'].hybrid
    # the frozen MAE holds the checkpoint's weights (not the algorithm's init), stays frozen
    assert torch.equal(frozen.backbone.layers[0].ffn.layers[1].weight,
                       source.backbone.layers[0].ffn.layers[1].weight)
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.training

    x = images()
    calls = []
    frozen.backbone.patch_embed.register_forward_hook(lambda *a: calls.append(1))
    torch.manual_seed(8)
    losses = model.loss(x, samples())
    assert len(calls) == 1  # once per step for every auxiliary decoder

    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=8)
    # the frozen MAE fed the same visible patches: replaying the same random draw
    source.eval()
    torch.manual_seed(8)
    latent, source_mask, source_restore = source.backbone(x)
    assert torch.equal(source_mask, mask) and torch.equal(source_restore, ids_restore)
    recon = source.neck(latent, ids_restore)
    raw = norm_pix_patches(x)
    decoders = model.supervisions['deepmim'].decoders.decoders
    for block, target in ((3, raw), (4, recon), (5, 0.25 * raw + 0.75 * recon)):
        pred = decoders[f'l{block}'](outputs[block], ids_restore)
        assert torch.allclose(losses[f'loss_deepmim_l{block}'],
                              masked_mse(pred, target, mask), atol=1e-5), block
    # the final decoder always gets raw pixels
    final = masked_mse(model.neck(model.backbone.norm1(outputs[6]), ids_restore), raw, mask)
    assert torch.allclose(losses['loss_mim'], final, atol=1e-6)


# the CLIP-target variant of the tiny config: 24-d features for every decoder, 2 - 2 cos
FEATURE_CHANGES = dict(
    neck=dict(predict_feature_dim=24),
    head=dict(_delete_=True, **COSINE_HEAD),
    target_generator=TINY_CLIP,
    supervisions=dict(deepmim=dict(decoder=dict(predict_feature_dim=24))))


def feature_cfg():
    return model_cfg(**copy.deepcopy(FEATURE_CHANGES))


def test_feature_target_is_one_frozen_pass_with_cosine_loss():
    model = build(feature_cfg())
    generator = model.target_generator
    assert not any(p.requires_grad for p in generator.parameters())
    assert model.training and not generator.training  # frozen: eval mode after train()
    # the auxiliary decoders took the algorithm's head (2 - 2 cos), as the final decoder
    assert type(model.supervisions['deepmim'].head).__name__ == 'MIMHead'
    calls = []
    generator.register_forward_hook(lambda *a: calls.append(1))
    x = images()
    torch.manual_seed(4)
    losses = model.loss(x, samples())
    assert len(calls) == 1  # shared by the final and every auxiliary decoder

    # the target by hand: CLIP-normalised image, frozen ViT, drop cls, project
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    clip_mean = torch.tensor(TINY_CLIP['mean']).view(1, 3, 1, 1)
    clip_std = torch.tensor(TINY_CLIP['std']).view(1, 3, 1, 1)
    clip_x = (x * std + mean - clip_mean) / clip_std
    tokens = generator.backbone(clip_x)[-1][:, 1:]
    target = tokens @ generator.projection.proj  # (B, N, 24)
    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=4)
    decoders = model.supervisions['deepmim'].decoders.decoders
    for block in (3, 4, 5):
        pred = decoders[f'l{block}'](outputs[block], ids_restore)
        assert pred.shape == (4, 64, 24)
        cos = torch.nn.functional.cosine_similarity(pred, target, dim=-1)  # (B, N)
        expected = ((2 - 2 * cos) * mask).sum() / mask.sum()
        assert torch.allclose(losses[f'loss_deepmim_l{block}'], expected, atol=1e-5)
    pred = model.neck(model.backbone.norm1(outputs[6]), ids_restore)
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=-1)
    assert torch.allclose(losses['loss_mim'], ((2 - 2 * cos) * mask).sum() / mask.sum(),
                          atol=1e-5)


@pytest.mark.parametrize('component, message', [
    (dict(taps=[0, 3]), r'taps: expected blocks 1\.\.5 .*got \[0, 3\]'),
    (dict(taps=[3, 6]), r'taps: expected blocks 1\.\.5 .*got \[3, 6\]'),
    (dict(taps=[4, 3]), r'taps: expected strictly increasing blocks, got \[4, 3\]'),
    (dict(taps=[3, 3]), r'taps: expected strictly increasing'),
    (dict(weights=[1.0, 1.0]), r'weights: expected a list of 3 numbers, got 2'),
    (dict(hybrid=RANDOM_FROZEN_MAE, hybrid_alphas=[0.5]),
     r'hybrid_alphas: expected a list of 3 numbers, got 1'),
    (dict(hybrid_alphas=[0.5, 0.5, 0.5]), r'hybrid_alphas: given without hybrid'),
    (dict(hybrid=dict(type='DeepMIMHybridTarget', model=TINY_MAE,
                      checkpoint='/nonexistent/mae.pth')),
     r'hybrid\.checkpoint: no such checkpoint file .*/nonexistent/mae\.pth'),
    (dict(hybrid=dict(type='DeepMIMHybridTarget', model=TINY_MAE)),
     r'hybrid\.checkpoint: required'),
    (dict(hybrid=dict(RANDOM_FROZEN_MAE, model=dict(
        model_cfg(TINY_MAE), head=dict(type='MAEPretrainHead', norm_pix=False,
                                       loss=dict(type='PixelReconstructionLoss',
                                                 criterion='L2'))))),
     r'hybrid\.model: the frozen MAE\'s head has norm_pix=False'),
    (dict(decoder=dict(predict_feature_dim=24)),
     r'decoder\.predict_feature_dim: the auxiliary decoders predict 24 values per patch, '
     r'the target has 48'),
    (dict(decoder=7), r"decoder: expected a dict of DeepMIMDecoders arguments or 'light'"),
])
def test_bad_configuration_fails_at_build_naming_the_key(component, message):
    with pytest.raises((TypeError, ValueError, FileNotFoundError)) as raised:
        MODELS.build(deepmim_cfg(**component))
    text = str(raised.value.args[0])
    assert text.startswith('model.supervisions.deepmim.') and re.search(message, text), text


def test_bad_component_type_or_target_fails_at_build_naming_the_key():
    cfg = deepmim_cfg()
    cfg.supervisions.deepmim.type = 'DeepSupervisoin'
    with pytest.raises(KeyError, match=r'model\.supervisions\.deepmim\.type: .*DeepSupervisoin'):
        MODELS.build(cfg)
    # a code head for BEiT's every-position taps cannot read MAE's visible-token taps
    cfg = model_cfg(supervisions=dict(_delete_=True, codes=dict(type='DeepMIMTokenSupervision')))
    with pytest.raises(ValueError, match=r'model\.supervisions\.codes: DeepMIMTokenSupervision '
                                         r'reads taps of all tokens'):
        MODELS.build(cfg)
    # feature targets: the auxiliary decoders' width must be the target generator's
    cfg = feature_cfg()
    cfg.supervisions.deepmim.decoder.predict_feature_dim = 48
    with pytest.raises(ValueError, match=r'decoder\.predict_feature_dim: .* predict 48 values '
                                         r'per patch, the target has 24'):
        MODELS.build(cfg)
    cfg = feature_cfg()
    cfg.neck.predict_feature_dim = 48
    with pytest.raises(ValueError, match=r'model\.neck\.predict_feature_dim: the decoder '
                                         r'predicts 48 values per patch, the target generator'):
        MODELS.build(cfg)
    cfg = feature_cfg()
    cfg.target_generator.backbone.patch_size = 8  # a 4 x 4 grid for the student's 8 x 8
    with pytest.raises(ValueError, match=r'model\.target_generator: its patch grid has 16 '
                                         r'patches, the backbone\'s 64'):
        MODELS.build(cfg)


def test_light_decoders_keep_the_other_decoder_keys():
    model = build(feature_cfg())
    assert model.supervisions['deepmim'].decoders.decoders['l3'].decoder_embed.out_features == 64
    cfg = feature_cfg()
    cfg.supervisions.deepmim.decoder = dict(light=True, predict_feature_dim=24)
    decoder = build(cfg).supervisions['deepmim'].decoders.decoders['l3']
    assert decoder.decoder_embed.out_features == 256 and len(decoder.decoder_blocks) == 2
    assert decoder.decoder_pred.out_features == 24  # predict_feature_dim kept


def test_missing_or_wrong_feature_teacher_checkpoint(tmp_path):
    cfg = feature_cfg()
    cfg.target_generator.random_weights = False
    with pytest.raises(ValueError, match=r'model\.target_generator\.checkpoint: required'):
        MODELS.build(cfg)
    cfg.target_generator.checkpoint = str(tmp_path / 'clip.pth')
    with pytest.raises(FileNotFoundError, match=r'model\.target_generator\.checkpoint: no '
                                                r'such checkpoint file .*clip\.pth'):
        MODELS.build(cfg)
    # a file without the frozen network's weights: a clear error when weights are loaded
    torch.save({'state_dict': {'visual.unrelated': torch.zeros(1)}}, tmp_path / 'clip.pth')
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match=r'lacks \d+ weights of FrozenFeatureTarget'):
        model.init_weights()
    # a feature head without a target generator
    no_generator = feature_cfg()
    no_generator.pop('target_generator')
    with pytest.raises(ValueError, match=r'^model\.supervisions\.deepmim: reads the target '
                                         r'generator\'s features .*set model\.target_generator'):
        MODELS.build(no_generator)


def test_feature_teacher_loads_mmpretrain_clip_keys(tmp_path):
    """A checkpoint with mmpretrain CLIP's key names (visual.*, visual_proj.*) loads."""
    source = MODELS.build(TINY_CLIP)
    state = {f'visual.{k}': v + 1 for k, v in source.backbone.state_dict().items()}
    state['visual_proj.proj'] = source.projection.proj + 1
    torch.save(state, tmp_path / 'clip.pth')
    cfg = dict(TINY_CLIP, checkpoint=str(tmp_path / 'clip.pth'), random_weights=False,
               prefixes=dict(backbone='visual.', projection='visual_proj.'))
    target = MODELS.build(cfg)
    target.init_weights()
    assert torch.equal(target.projection.proj, source.projection.proj + 1)
    assert torch.equal(target.backbone.layers[1].ffn.layers[1].weight,
                       source.backbone.layers[1].ffn.layers[1].weight + 1)


def run(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('variant', ['pixel', 'light', 'hybrid', 'feature'])
def test_runner_iterations(variant, demo_data, tmp_path, frozen_mae_checkpoint):
    overrides = {
        'pixel': {},
        # the tiny config states decoder sizes; light alone replaces them
        'light': dict(model=dict(supervisions=dict(deepmim=dict(
            decoder=dict(_delete_=True, light=True))))),
        'hybrid': dict(model=dict(supervisions=dict(deepmim=dict(hybrid=dict(
            type='DeepMIMHybridTarget', model=TINY_MAE,
            checkpoint=frozen_mae_checkpoint[0]))))),
        'feature': dict(model=FEATURE_CHANGES),
    }[variant]
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=TINY_DEEPMIM, max_epochs=1,
                          **overrides)
    runner = run(cfg)
    assert runner.iter == 2
    width = runner.model.supervisions['deepmim'].decoders.decoders['l3'].decoder_embed
    assert width.out_features == (256 if variant == 'light' else 64)
    history = runner.message_hub.log_scalars
    for key in ('train/loss', 'train/loss_deepmim_l3', 'train/loss_deepmim_l5'):
        values = history[key].data[0]
        assert len(values) == 2 and all(v == v and v > 0 for v in values.tolist()), key
    # the logged loss is the optimised total: MAE's term plus every auxiliary term
    parts = ['mim'] + [f'deepmim_l{b}' for b in (3, 4, 5)]
    for i in range(2):
        total = history['train/loss'].data[0][i]
        assert abs(total - sum(history[f'train/loss_{p}'].data[0][i] for p in parts)) < 1e-4
    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), weights_only=True)
    mae_vit = MODELS.build(dict(model_cfg().backbone, type='MAEViT'))
    backbone_keys = [k[9:] for k in ckpt['state_dict'] if k.startswith('backbone.')]
    assert backbone_keys == list(mae_vit.state_dict())


def deepmim_config(name):
    return Config.fromfile(osp.join(ROOT, 'configs', 'deepmim', name)).to_dict()


def test_deepmim_configs_differ_from_their_bases_only_where_they_say():
    base = deepmim_config('deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    mae = Config.fromfile(osp.join(
        ROOT, 'configs', '_base_',
        'composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).to_dict()
    assert differing(base, mae) == ['model.supervisions.deepmim']
    long = deepmim_config('deepmim_mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py')
    assert differing(long, base) == ['param_scheduler', 'train_cfg.max_epochs']
    large = deepmim_config('deepmim_mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py')
    assert differing(large, long) == ['model.backbone.arch', 'model.neck.embed_dim']
    light = deepmim_config('deepmim-light_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    assert differing(light, base) == ['model.supervisions.deepmim.decoder']
    hybrid = deepmim_config('deepmim-hybrid_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    assert differing(hybrid, base) == ['model.supervisions.deepmim.hybrid']
    clip = deepmim_config('deepmim-clip_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    assert {k.split('.')[1] for k in differing(clip, base) if k.startswith('model.')} == {
        'neck', 'head', 'target_generator', 'supervisions'}
