"""LUT: disjoint view masks, the broader-contextualization loss, the teacher, the Runner."""
import copy
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from torch import nn

from mim_deepsup.core import MIMState
from mim_deepsup.core.view_masking import disjoint_view_masks
from mim_deepsup.methods.lut import cross_view_cosine_loss
from mim_deepsup.testing import ROOT, TINY_MAE, build_model, tiny_runner_cfg

TINY_LUT = osp.join(ROOT, 'configs', 'lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')


def lut_config(name=TINY_LUT):
    return Config.fromfile(name if osp.isabs(name) else osp.join(ROOT, 'configs', 'lut', name))


def two_views(batch=4, size=32, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, size, size, generator=generator) for _ in range(2)]


def visible_sets(ids_restore, num_visible):
    """Each row's visible patches (the first K of its shuffle), as sets."""
    return [set(row.tolist()) for row in torch.argsort(ids_restore, dim=1)[:, :num_visible]]


# --- masks -------------------------------------------------------------------------------

def test_view_masks_are_disjoint_and_view_one_is_maes():
    batch, patches, visible = 3, 16, 4
    noise = torch.rand(batch, patches, generator=torch.Generator().manual_seed(0))
    ids_restore = disjoint_view_masks(noise, 2, visible)
    assert ids_restore.shape == (2 * batch, patches)
    first, second = visible_sets(ids_restore[:batch], visible), visible_sets(
        ids_restore[batch:], visible)
    ids_shuffle = torch.argsort(noise, dim=1)
    for b in range(batch):
        assert len(first[b]) == len(second[b]) == visible
        assert not first[b] & second[b]
        # view 1 keeps what MAE keeps for this noise, view 2 the next K
        assert first[b] == set(ids_shuffle[b, :visible].tolist())
        assert second[b] == set(ids_shuffle[b, visible:2 * visible].tolist())
    # MAE's mask convention: 1 = removed, N - K per row
    mask = (ids_restore >= visible).float()
    assert mask.sum(1).tolist() == [patches - visible] * (2 * batch)
    with pytest.raises(ValueError, match='cannot be disjoint'):
        disjoint_view_masks(noise, 2, 9)


@pytest.mark.parametrize('ratio, ok', [(0.4, False), (0.49, False), (0.5, True), (0.75, True)])
def test_mask_ratio_below_one_half_is_refused(ratio, ok):
    cfg = lut_config().model
    cfg.backbone.mask_ratio = ratio
    if ok:
        MODELS.build(cfg)
        return
    expected = r'expected at least 0\.5.*got 0\.4' if ratio == 0.4 else ''
    with pytest.raises(ValueError, match=rf'model.backbone.mask_ratio: {expected}'):
        MODELS.build(cfg)


def test_the_step_checks_the_number_of_views():
    lut = build_model(lut_config().model)
    with pytest.raises(ValueError, match='gives 1 view.*MultiView'):
        lut.loss(two_views()[0], None)
    mae = build_model(Config.fromfile(TINY_MAE).model)
    with pytest.raises(ValueError, match='gives 2 views.*drop MultiView'):
        mae.loss(two_views(), None)


# --- the loss ----------------------------------------------------------------------------

def identity_component(weight):
    component = MODELS.build(dict(type='LUTSupervision', weight=weight,
                                  projector='identity', predictor='identity', embed_dims=2))
    return component


def test_hand_computed_bc_loss_pairs_each_student_view_with_the_other_teacher_view():
    cls = [100.0, -100.0]  # the cls token must not enter the means
    # student, 2 visible tokens per view: q1 = mean = (1, 0), q2 = (0, 2)
    latents = torch.tensor([[[cls, [1.0, 0.0], [1.0, 0.0]]],
                            [[cls, [0.0, 1.0], [0.0, 3.0]]]])  # (V=2, B=1, 1 + K, C=2)
    # teacher, all 4 tokens per view: k1 = (1, 1), k2 = (1, 0)
    teacher = torch.tensor([[[cls, [1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]],
                            [[cls, [1.0, 0.0], [-1.0, 0.0], [3.0, 0.0], [1.0, 0.0]]]])
    state = MIMState(inputs=None, mask=None, grid=None, latent=latents[0],
                     view_latents=latents, view_teacher_tokens=teacher)
    losses = identity_component(weight=0.5).loss(state, {'projector': nn.Identity()})
    # 2 - 2 cos(q2, k1) = 2 - 2 / sqrt(2); 2 - 2 cos(q1, k2) = 0
    expected = 0.5 * ((2 - math.sqrt(2)) + 0.0) / 2
    assert losses.keys() == {'loss'}
    assert losses['loss'].item() == pytest.approx(expected, rel=1e-6)
    # pairing a view with itself would give (2 - sqrt(2) + 2) / 2 instead
    same_view = 0.5 * ((2 - math.sqrt(2)) + 2.0) / 2
    assert abs(losses['loss'].item() - same_view) > 0.4


def test_cross_view_loss_is_the_batch_mean_of_both_pairs():
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [-1.0, 0.0]]])  # (V, B, D)
    k = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
    # q1 vs k2: cos 1, cos 0; q2 vs k1: cos 1/sqrt(2), cos 0
    expected = ((0.0 + 2.0) / 2 + ((2 - math.sqrt(2)) + 2.0) / 2) / 2
    assert cross_view_cosine_loss(q, k).item() == pytest.approx(expected, rel=1e-6)


def test_cross_view_loss_stays_fp32_under_autocast():
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 6, 32, generator=generator), torch.randn(2, 6, 32, generator=generator)
    expected = cross_view_cosine_loss(q, k)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = cross_view_cosine_loss(q.bfloat16(), k.bfloat16())
        same_inputs = cross_view_cosine_loss(q, k)
    assert got.dtype == same_inputs.dtype == torch.float32
    assert same_inputs.item() == pytest.approx(expected.item(), rel=1e-6)


def test_identity_heads_train_and_update_the_teacher():
    cfg = lut_config().model
    cfg.supervisions.lut.update(projector='identity', predictor='identity')
    model = build_model(cfg)
    assert isinstance(model.supervisions['lut'].projector, nn.Identity)
    losses = model.loss(two_views(), None)
    sum(losses.values()).backward()
    model.set_progress(0.1)
    model.update_teacher()  # a part without parameters: nothing to average
    assert torch.isfinite(losses['loss_lut'])


def test_student_heads_normalise_each_view_over_its_own_batch():
    torch.manual_seed(0)
    head = dict(hid_channels=8, norm_cfg=dict(type='BN1d'))
    component = MODELS.build(dict(type='LUTSupervision', weight=1.0, embed_dims=4,
                                  projector=head, predictor=head))
    component.init_weights()
    component.train()
    teacher_projector = copy.deepcopy(component.projector).eval()
    latents = torch.randn(2, 5, 1 + 3, 4)
    latents[1] += 3.0  # a view-wise shift that per-view BatchNorm removes
    teacher = torch.randn(2, 5, 1 + 6, 4)
    state = MIMState(inputs=None, mask=None, grid=None, latent=latents[0],
                     view_latents=latents, view_teacher_tokens=teacher)

    def mlp(m, x, bn_stats):
        h = m.fc0(x)
        mean, var = bn_stats(h)
        h = (h - mean) / torch.sqrt(var + m.bn0.eps) * m.bn0.weight + m.bn0.bias
        return m.fc1(torch.relu(h))

    def batch_stats(h):
        return h.mean(0), h.var(0, unbiased=False)

    proj, pred = copy.deepcopy(component.projector), copy.deepcopy(component.predictor)
    q = torch.stack([mlp(pred, mlp(proj, latents[v, :, 1:].mean(1), batch_stats), batch_stats)
                     for v in range(2)])
    tp = teacher_projector
    k = mlp(tp, teacher[:, :, 1:].mean(2).flatten(0, 1),
            lambda h: (tp.bn0.running_mean, tp.bn0.running_var)).unflatten(0, (2, 5))
    expected = cross_view_cosine_loss(q, k)
    loss = component.loss(state, {'projector': teacher_projector})['loss']
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # one BatchNorm over both views would give another value
    both = mlp(pred, mlp(proj, latents[:, :, 1:].mean(2).flatten(0, 1), batch_stats),
               batch_stats).unflatten(0, (2, 5))
    assert abs(cross_view_cosine_loss(both, k).item() - expected.item()) > 1e-3


# --- the algorithm's step ----------------------------------------------------------------

def count_calls(module, batches):
    """Record the batch size of each call (NonLinearNeck takes a tuple of one tensor)."""
    def record(m, args, out):
        x = args[0][0] if isinstance(args[0], tuple) else args[0]
        batches.append(len(x))
    return module.register_forward_hook(record)


def test_one_batched_student_pass_one_teacher_pass_and_view_one_decoded():
    model = build_model(lut_config().model)
    views = two_views(batch=4)
    student, teacher, decoder, teacher_projector = [], [], [], []
    handles = [count_calls(model.backbone.patch_embed, student),  # once per pass
               count_calls(model.teacher['backbone'], teacher),
               count_calls(model.neck, decoder),
               count_calls(model.teacher['supervisions.lut.projector'], teacher_projector)]
    losses = model.loss(views, None)
    for handle in handles:
        handle.remove()
    assert student == [8] and teacher == [8]  # V x B images, one pass each
    assert len(decoder) == 1  # only the MIM view is decoded
    assert teacher_projector == [8]  # one call on the (V * B, C) pooled tokens
    assert set(model.teacher.sources) == {'backbone', 'supervisions.lut.projector'}
    assert set(losses) == {'loss_mim', 'loss_lut'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_loss_mim_is_maes_loss_on_view_one_with_the_same_noise():
    """View 1 keeps exactly the patches MAE would keep with the same random draw."""
    lut = build_model(lut_config().model)
    mae = build_model(Config.fromfile(TINY_MAE).model)
    mae.load_state_dict(lut.state_dict(), strict=False)
    views = two_views(batch=4)
    torch.manual_seed(7)
    loss_mim = lut.loss(views, None)['loss_mim']
    torch.manual_seed(7)
    loss_mae = mae.loss(views[0], None)['loss']
    assert loss_mim.item() == pytest.approx(loss_mae.item(), rel=1e-5)


def test_batched_views_equal_separate_passes():
    cfg = lut_config().model
    batched = build_model(cfg)
    separate = build_model(dict(copy.deepcopy(cfg), batch_views=False))
    separate.load_state_dict(batched.state_dict())
    views = two_views(batch=4)
    results = []
    for model in (batched, separate):
        torch.manual_seed(3)
        losses = model.loss(views, None)
        sum(losses.values()).backward()
        results.append((losses, {n: p.grad for n, p in model.named_parameters()
                                 if p.grad is not None}))
    (l1, g1), (l2, g2) = results
    for key in l1:
        assert l1[key].item() == pytest.approx(l2[key].item(), rel=1e-5), key
    assert g1.keys() == g2.keys()
    for name in g1:
        assert torch.allclose(g1[name], g2[name], rtol=1e-4, atol=1e-6), name


def test_teacher_gets_no_gradient_and_follows_the_momentum_schedule():
    model = build_model(lut_config().model)
    losses = model.loss(two_views(), None)
    sum(losses.values()).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert model.supervisions['lut'].projector.fc0.weight.grad.abs().sum() > 0
    assert model.supervisions['lut'].predictor.fc0.weight.grad.abs().sum() > 0
    assert not model.teacher.training
    # the student moves; the teacher takes m of itself and 1 - m of the student
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.5)
    progress = 0.3
    m = 1 - 0.004 * (math.cos(math.pi * progress) + 1) / 2
    model.set_progress(progress)
    model.update_teacher()
    pairs = [('ema.backbone.layers.0.attn.qkv.weight', model.backbone.layers[0].attn.qkv.weight),
             ('ema.supervisions__lut__projector.fc0.weight',
              model.supervisions['lut'].projector.fc0.weight),
             # average_buffers: BatchNorm statistics are averaged too, as released
             ('ema.supervisions__lut__projector.bn0.running_mean',
              model.supervisions['lut'].projector.bn0.running_mean)]
    for key, student in pairs:
        expected = m * before[key] + (1 - m) * student
        assert torch.allclose(model.teacher.state_dict()[key], expected, atol=1e-6), key
    # the predictor is not copied: the teacher needs none
    assert not any('predictor' in k for k in model.teacher.state_dict())


def test_lut_configs_differ_from_their_bases_only_where_they_say():
    from mim_deepsup.testing import config_differences as differing
    base = lut_config('lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py').to_dict()
    mae = Config.fromfile(osp.join(
        ROOT, 'configs', '_base_',
        'composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).to_dict()
    assert differing(base, mae) == [
        'data_preprocessor.context_augment', 'data_preprocessor.type', 'model.supervisions.lut',
        'model.teacher', 'optim_wrapper.paramwise_cfg.norm_decay_mult', 'param_scheduler',
        'train_cfg.max_epochs', 'train_dataloader.dataset.pipeline', 'view_crop']
    cpu = lut_config('lut-cpuaug_vit-base-p16_8xb512-amp-coslr-400e_in1k.py').to_dict()
    assert differing(cpu, base) == ['data_preprocessor.context_augment',
                                    'train_dataloader.dataset.pipeline']
    long = lut_config('lut_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py').to_dict()
    assert differing(long, base) == ['param_scheduler', 'train_cfg.max_epochs']
    small = lut_config('lut_vit-small-p16_8xb512-amp-coslr-400e_in1k.py').to_dict()
    assert differing(small, base) == ['model.backbone.arch', 'model.neck.embed_dim',
                                      'model.supervisions.lut.weight']
    small_long = lut_config('lut_vit-small-p16_8xb512-amp-coslr-1600e_in1k.py').to_dict()
    assert differing(small_long, small) == ['param_scheduler', 'train_cfg.max_epochs']
    # the mmpretrain MAE 400e/1600e schedules, exactly
    from mmengine.hub import get_config
    for ours, theirs in ((base, '400e'), (long, '1600e')):
        mmpretrain = get_config(f'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-'
                                f'{theirs}_in1k.py')
        strip = [{k: v for k, v in s.items() if k != '_scope_'}
                 for s in mmpretrain.param_scheduler]
        assert ours['param_scheduler'] == strip
    model = build_model(small['model'])
    assert model.backbone.embed_dims == 384 and len(model.backbone.layers) == 12
    assert model.supervisions['lut'].projector.fc0.weight.shape == (4096, 384)
    assert model.supervisions['lut'].weight == 1.0


# --- real iterations ---------------------------------------------------------------------

def train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def lut_run(demo_data, tmp_path_factory):
    """4 iterations (2 epochs x 2) of the tiny LUT config on the demo data."""
    work_dir = tmp_path_factory.mktemp('lut')
    cfg = tiny_runner_cfg(demo_data, work_dir, config=TINY_LUT)
    cfg.custom_hooks.append(dict(type='StartSnapshotHook'))
    return train(cfg), work_dir


def test_runner_iterations_log_both_terms_and_move_the_teacher(lut_run):
    runner, _ = lut_run
    hub = runner.message_hub
    assert runner.iter == 4
    mim = hub.get_scalar('train/loss_mim').data[0].tolist()
    bc = hub.get_scalar('train/loss_lut').data[0].tolist()
    total = hub.get_scalar('train/loss').data[0].tolist()
    assert len(mim) == len(bc) == 4 and all(math.isfinite(v) for v in mim + bc)
    assert total == pytest.approx([a + b for a, b in zip(mim, bc)], rel=1e-5)
    # the hook moved the teacher after each step, by m >= 0.996 of it: a small step
    # towards the student, whose own step was larger
    state, start = runner.model.state_dict(), runner.start_state
    for name, ema in (
            ('backbone.layers.0.attn.qkv.weight',
             'teacher.ema.backbone.layers.0.attn.qkv.weight'),
            ('supervisions.lut.projector.fc0.weight',
             'teacher.ema.supervisions__lut__projector.fc0.weight')):
        assert torch.equal(start[ema], start[name])  # the teacher started as the student
        moved, learned = (state[ema] - start[ema]).norm(), (state[name] - start[name]).norm()
        assert 0 < moved < 0.05 * learned, name


def test_resume_restores_the_teacher_and_its_projector(lut_run, demo_data, tmp_path):
    full, full_dir = lut_run
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=TINY_LUT, resume=True,
                          load_from=osp.join(full_dir, 'epoch_1.pth'))
    resumed = train(cfg)
    a, b = resumed.model.state_dict(), full.model.state_dict()
    assert a.keys() == b.keys()
    assert any(k.startswith('teacher.ema.supervisions__lut__projector.bn0.running_mean')
               for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize('name,colour_on_cpu', [
    ('lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py', False),
    ('lut-cpuaug_vit-base-p16_8xb512-amp-coslr-400e_in1k.py', True)])
def test_the_two_view_pipeline_of_the_vit_b_config(name, colour_on_cpu, demo_data):
    import mmcv
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    from mim_deepsup.testing import reflect_shifts
    init_default_scope('mmpretrain')
    cfg = lut_config(name)
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    path = sorted(glob.glob(osp.join(demo_data['imagenet'], 'train', '*', '*')))[0]
    img = mmcv.imread(path)  # BGR, as LoadImageFromFile; PackInputs keeps the order
    resized = mmcv.imresize(img, (224, 224), interpolation='bicubic', backend='pillow')
    candidates = [resized, resized[:, ::-1]]  # as is, or flipped
    for seed in range(3):
        torch.manual_seed(seed)
        np.random.seed(seed)
        views = pipeline(dict(img_path=path))['inputs']
        assert len(views) == 2
        assert all(v.shape == (3, 224, 224) and v.dtype == torch.uint8 for v in views)
        hwc = [v.permute(1, 2, 0).numpy() for v in views]
        # view 1: a shifted (<= 4 px), maybe flipped crop of the whole image, colours intact
        assert any(reflect_shifts(hwc[0], c, 4) for c in candidates)
        # view 2: always changed by 3-Augment on the CPU, so no crop of the image matches
        # it; the default leaves its colours to the data preprocessor
        assert any(reflect_shifts(hwc[1], c, 4) for c in candidates) != colour_on_cpu
    assert (cfg.data_preprocessor.context_augment is None) == colour_on_cpu


def test_benchmark_tool_feeds_two_views_and_compares_separate_passes(capsys):
    from mim_deepsup.benchmarking.cli import main
    main([TINY_LUT, '--baseline', TINY_LUT, '--cfg-options', 'model.batch_views=False',
          '--iters', '1', '--warmup', '1', '--batch-size', '4', '--no-memory'])
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if '(32 px): step' in line]) == 2
    # four separate passes do the same arithmetic as two batched ones
    assert lines[-2] == 'FLOPs ratio to baseline: 1.000'


def test_optimizer_leaves_the_teacher_out_quietly_and_keeps_paramwise_rules(monkeypatch):
    from mmengine.optim import build_optim_wrapper
    from mmengine.optim.optimizer import default_constructor
    from mmengine.registry import init_default_scope

    from mim_deepsup.engine.optimizers import skip_frozen_constructor
    init_default_scope('mmpretrain')  # as the Runner does
    messages = []
    for module in (default_constructor, skip_frozen_constructor):
        monkeypatch.setattr(module, 'print_log', lambda msg, **kw: messages.append(msg))
    cfg = lut_config()
    model = build_model(cfg.model)
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    # the student's fixed position embeddings keep mmengine's warning; the teacher: one line
    assert [m for m in messages if 'is skipped since' in m] == [
        'backbone.pos_embed is skipped since its requires_grad=False',
        'neck.decoder_pos_embed is skipped since its requires_grad=False']
    assert [m for m in messages if m.startswith('teacher: ')] == [
        f'teacher: {len(list(model.teacher.parameters()))} parameters without gradients (a '
        f'frozen or EMA module) are not optimised']
    groups = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    assert not any(id(p) in groups for p in model.teacher.parameters())
    student = [p for p in model.parameters() if p.requires_grad]
    assert all(id(p) in groups for p in student)
    wd = cfg.optim_wrapper.optimizer.weight_decay
    bc = model.supervisions['lut']
    assert groups[id(bc.projector.fc0.weight)]['weight_decay'] == wd
    assert groups[id(bc.projector.bn0.weight)]['weight_decay'] == 0.0  # norm_decay_mult
    assert groups[id(model.backbone.cls_token)]['weight_decay'] == 0.0  # mmpretrain's keys


def test_fine_tuning_loads_the_students_backbone_not_the_teachers(lut_run):
    full, work_dir = lut_run
    vit = MODELS.build(dict(
        type='VisionTransformer', arch=dict(embed_dims=64, num_layers=6, num_heads=4,
                                            feedforward_channels=256),
        img_size=32, patch_size=4,
        init_cfg=dict(type='Pretrained', checkpoint=osp.join(work_dir, 'epoch_2.pth'),
                      prefix='backbone.')))
    vit.init_weights()
    key = 'layers.0.ffn.layers.1.weight'
    student = full.model.backbone.state_dict()[key]
    teacher = full.model.teacher['backbone'].state_dict()[key]
    assert not torch.equal(student, teacher)
    assert torch.equal(vit.state_dict()[key], student)


@pytest.mark.slow
def test_released_structure_benchmark_runs(capsys):
    from benchmarks.lut_released_structure import main
    main([TINY_LUT, '--batch-size', '4', '--pairs', '2', '--warmup', '1'])
    out = capsys.readouterr().out
    assert 'paired ratio released / ours: median' in out and 'EMA update alone' in out
