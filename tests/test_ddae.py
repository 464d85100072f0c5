"""DDAE: distance map, dynamic weights, schedule, losses and deep dynamic supervision."""
import itertools
import math
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mim_deepsup.core import MIMState
from mim_deepsup.methods.ddae import patch_distances
from mim_deepsup.testing import ROOT

TINY_DDAE = osp.join(ROOT, 'configs', 'ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py')

METRIC_FNS = {
    'euclidean': lambda dy, dx: math.hypot(dy, dx),
    'manhattan': lambda dy, dx: abs(dy) + abs(dx),
    'chebyshev': lambda dy, dx: max(abs(dy), abs(dx)),
}


def brute_force(mask, height, width, metric):
    """Loop over every patch and every visible patch (the definition, slowly)."""
    fn = METRIC_FNS[metric]
    out = torch.zeros(mask.shape)
    for b in range(mask.shape[0]):
        visible = [(i // width, i % width) for i in range(height * width) if not mask[b, i]]
        for j in range(height * width):
            if mask[b, j]:
                y, x = divmod(j, width)
                out[b, j] = min((fn(y - vy, x - vx) for vy, vx in visible),
                                default=float('inf'))
    return out


@pytest.mark.parametrize('grid, metric', list(itertools.product(
    [(4, 4), (7, 5), (14, 14)], ['euclidean', 'manhattan', 'chebyshev'])))
def test_distance_map_matches_brute_force_on_random_masks(grid, metric):
    height, width = grid
    generator = torch.Generator().manual_seed(height * 100 + width)
    for ratio in (0.5, 0.75, 0.9):
        mask = (torch.rand(3, height * width, generator=generator) < ratio).float()
        got = patch_distances(mask, grid, metric)
        assert torch.allclose(got, brute_force(mask, height, width, metric))


def test_distance_map_on_a_hand_drawn_mask():
    # 1 = masked; the only visible patch is the centre of a 5 x 5 grid
    mask = torch.ones(1, 25)
    mask[0, 12] = 0
    euclid = patch_distances(mask, (5, 5)).view(5, 5)
    assert euclid[2, 2] == 0 and euclid[0, 0] == pytest.approx(math.sqrt(8))
    assert euclid[2, 4] == 2 and euclid[1, 2] == 1
    cheb = patch_distances(mask, (5, 5), 'chebyshev').view(5, 5)
    assert cheb[0, 0] == 2 and cheb[1, 1] == 1
    manh = patch_distances(mask, (5, 5), 'manhattan').view(5, 5)
    assert manh[0, 0] == 4 and manh[0, 1] == 3
    # a BEiT-style block: a 2 x 3 masked block in the corner of a 4 x 4 grid, bool mask
    block = torch.zeros(1, 4, 4, dtype=torch.bool)
    block[0, :2, :3] = True
    d = patch_distances(block.flatten(1), (4, 4)).view(4, 4)
    assert d[0, 0] == 2 and d[0, 2] == 1 and d[1, 1] == 1 and d[3, 3] == 0


def test_distance_map_errors_name_the_problem():
    with pytest.raises(ValueError, match='mask has 16 patches, the grid 5 x 5 has 25'):
        patch_distances(torch.zeros(1, 16), (5, 5))


# --- dynamic weights, schedule and the weighted pixel loss --------------------------------

def random_mask(batch, patches, ratio=0.75, seed=0):
    noise = torch.rand(batch, patches, generator=torch.Generator().manual_seed(seed))
    return (noise < ratio).float()


def test_weights_average_one_per_image_over_masked_patches():
    from mim_deepsup.methods.ddae import distance_weights
    mask = random_mask(4, 49)
    d = patch_distances(mask, (7, 7))
    for g in (-1.5, 0.7, 2.0):
        w = distance_weights(d, mask, g)
        assert torch.all(w[mask == 0] == 0)
        assert torch.allclose((w * mask).sum(1) / mask.sum(1), torch.ones(4))
    assert torch.equal(distance_weights(d, mask, 0.0), mask)  # g = 0: exactly the mask


def test_images_with_no_visible_or_no_masked_patch():
    from mim_deepsup.methods.ddae import distance_weights
    mask = torch.stack([torch.ones(16), torch.zeros(16), random_mask(1, 16, seed=3)[0]])
    d = patch_distances(mask, (4, 4))
    assert torch.isinf(d[0]).all() and (d[1] == 0).all()
    for g in (-1.0, 0.0, 2.0):
        w = distance_weights(d, mask, g)
        assert torch.isfinite(w).all()
        assert torch.equal(w[0], torch.ones(16))  # nothing visible: uniform, MAE's weights
        assert torch.equal(w[1], torch.zeros(16))  # nothing masked: nothing to weight


def test_hand_computed_weighted_loss():
    from mim_deepsup.methods.ddae import DDAEPixelLoss
    loss = DDAEPixelLoss(schedule=dict(
        type='DDAEExponentSchedule', shallow=1.0, deep=1.0))  # g = t = 1 below
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])  # distances 0, 1, 2, 3
    state = MIMState(inputs=None, mask=mask, grid=(1, 4), progress=1.0)
    pred = torch.zeros(1, 4, 2)
    target = torch.tensor([[[9.0, 9.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])  # L2: 1, 4, 9
    # weights 1, 2, 3 renormalised to mean 1: 0.5, 1, 1.5
    expected = (0.5 * 1 + 1.0 * 4 + 1.5 * 9) / 3
    assert loss(pred, target, mask, state).item() == pytest.approx(expected)


def test_zero_exponent_is_maes_pixel_loss_exactly():
    from mmpretrain.models.losses import PixelReconstructionLoss

    from mim_deepsup.methods.ddae import DDAEPixelLoss
    ours = DDAEPixelLoss(criterion='L2')  # default schedule: g = 0 at t = 0
    mae = PixelReconstructionLoss(criterion='L2')
    generator = torch.Generator().manual_seed(1)
    pred, target = (torch.randn(3, 196, 768, generator=generator) for _ in range(2))
    mask = random_mask(3, 196, seed=2)
    state = MIMState(inputs=None, mask=mask, grid=(14, 14), progress=0.0)
    assert ours.exponent(state) == 0.0
    assert torch.equal(ours(pred, target, mask, state), mae(pred, target, mask))


@pytest.mark.parametrize('depth, progress, expected', [
    (1 / 3, 0.0, 0.0), (1 / 3, 1.0, 1 / 3), (2 / 3, 1.0, -1 / 3), (1.0, 1.0, -1.0),
    (1.0, 0.5, -0.5), (0.5, 0.7, 0.0)])
def test_default_schedule_values(depth, progress, expected):
    from mim_deepsup.methods.ddae import DDAEExponentSchedule
    assert DDAEExponentSchedule()(depth, progress) == pytest.approx(expected)


def test_schedule_ramp_and_bad_settings_name_the_key():
    from mim_deepsup.methods.ddae import DDAEExponentSchedule, DDAEPixelLoss
    ramp = DDAEExponentSchedule(shallow=2.0, deep=2.0, start=0.2, end=0.6)
    assert ramp(0.5, 0.1) == 0.0 and ramp(0.5, 0.4) == pytest.approx(1.0)
    assert ramp(0.5, 0.9) == 2.0
    with pytest.raises(ValueError, match='start, end'):
        DDAEExponentSchedule(start=0.5, end=0.5)
    with pytest.raises(ValueError, match='schedule: gives g'):
        DDAEPixelLoss(schedule=dict(type='DDAEExponentSchedule', deep=-1e4))
    with pytest.raises(ValueError, match="metric: expected one of 'euclidean'.*got 'hamming'"):
        DDAEPixelLoss(metric='hamming')


# --- deep dynamic supervision on MAE -----------------------------------------------------

def ddae_model(seed=0):
    from mmengine.config import Config

    from mim_deepsup.testing import build_model
    return build_model(Config.fromfile(TINY_DDAE).model, seed)


def set_progress(model, progress):
    model.set_progress(progress)  # what TrainingProgressHook does


def test_at_zero_progress_the_final_term_is_maes_loss_exactly():
    from mmengine.config import Config

    from mim_deepsup.testing import TINY_MAE, build_model
    ddae = ddae_model()
    mae = build_model(Config.fromfile(TINY_MAE).model)
    mae.load_state_dict(ddae.state_dict(), strict=False)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(3)
    # no TrainingProgressHook here: training at t = 0 is MAE, and the loss says so
    with pytest.warns(UserWarning, match='without TrainingProgressHook'):
        ours = ddae.loss(x, None)['loss_mim']
    torch.manual_seed(3)
    assert torch.equal(ours, mae.loss(x, None)['loss'])


def test_intermediate_loss_is_the_hand_computed_weighted_feature_error():
    import torch.nn.functional as F

    from mim_deepsup.methods.ddae import distance_weights
    model = ddae_model()
    set_progress(model, 0.6)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(1)
    losses = model.loss(x, None)
    torch.manual_seed(1)
    state = model.compute_state(x)
    assert not state.teacher_tokens.requires_grad
    component = model.supervisions['ddae']
    assert component.taps == (2, 4)
    target = F.layer_norm(state.teacher_tokens[:, 1:], (64, ), eps=1e-6)  # (B, N, C)
    d = brute_force(state.mask, 8, 8, 'euclidean')
    for block in component.taps:
        g = 0.6 * (1 - 2 * block / 6)  # the default schedule at depth l / L
        assert component.losses[f'l{block}'].exponent(state) == pytest.approx(g)
        pred = component.decoders.decoders[f'l{block}'](state.taps[block], state.ids_restore)
        err = (pred - target).pow(2).mean(-1)  # (B, N)
        w = distance_weights(d, state.mask, g)
        expected = (err * w).sum() / state.mask.sum()
        assert losses[f'loss_ddae_l{block}'].item() == pytest.approx(expected.item(),
                                                                   rel=1e-5)


def test_intermediate_losses_reach_only_the_blocks_below_and_not_the_teacher():
    model = ddae_model()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    losses = model.loss(x, None)
    losses['loss_ddae_l2'].backward()
    layers = model.backbone.layers
    for index, layer in enumerate(layers):
        grads = [p.grad for p in layer.parameters()]
        if index < 2:
            assert any(g is not None and g.abs().sum() > 0 for g in grads), index
        else:
            assert all(g is None or g.abs().sum() == 0 for g in grads), index
    decoders = model.supervisions['ddae'].decoders.decoders
    assert all(p.grad is None for p in decoders['l4'].parameters())
    assert all(p.grad is None for p in model.neck.parameters())
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())


@HOOKS.register_module(force=True)
class ExponentRecorderHook(Hook):
    """Test hook: the DDAE exponents g in force at each training iteration."""

    priority = 'LOW'  # after TrainingProgressHook has published t

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        losses = [m for m in runner.model.modules() if hasattr(m, 'exponent')]
        runner.__dict__.setdefault('exponents_seen', []).append(
            [m.schedule(m.depth, runner.model.progress) for m in losses])


def test_ddae_runner_iterations_and_progress_after_resume(demo_data, tmp_path):
    import math as _math

    from mmengine.runner import Runner

    from mim_deepsup.testing import tiny_runner_cfg
    full = Runner.from_cfg(tiny_runner_cfg(demo_data, tmp_path / 'full', config=TINY_DDAE))
    full.train()
    keys = ('train/loss_mim', 'train/loss_ddae_l2', 'train/loss_ddae_l4')
    for key in keys:
        values = full.message_hub.get_scalar(key).data[0].tolist()
        assert len(values) == 4 and all(_math.isfinite(v) for v in values)
    losses = [m for m in full.model.modules() if hasattr(m, 'exponent')]
    assert len(losses) == 3 and full.model.progress == 0.75  # the last iteration's t
    cfg = tiny_runner_cfg(demo_data, tmp_path / 'resumed', config=TINY_DDAE, resume=True,
                          load_from=str(tmp_path / 'full' / 'epoch_1.pth'))
    cfg.custom_hooks.append(dict(type='ExponentRecorderHook'))
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    # iterations 2 and 3 of 4 after resuming at the end of epoch 1: t = 0.5, then 0.75
    expected = [[m.schedule(m.depth, t) for m in losses] for t in (0.5, 0.75)]
    assert len(resumed.exponents_seen) == 2
    for seen, want in zip(resumed.exponents_seen, expected):
        assert seen == pytest.approx(want)
    assert expected[0] != expected[1]  # the schedule really moves with t
    a, b = resumed.model.state_dict(), full.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_ddae_configuration_fails_at_build_naming_the_key():
    from mmengine.config import Config

    from mim_deepsup.testing import build_model
    cfg = Config.fromfile(TINY_DDAE).model
    for change, message in (
            (dict(taps=[2, 6]),
             r'model.supervisions.ddae.taps: expected blocks 1\.\.5 .* got \[2, 6\]'),
            (dict(metric='hamming'),
             "model.supervisions.ddae.metric: expected one of .*got 'hamming'"),
            (dict(loss=dict(schedule=dict(type='DDAEExponentSchedule', shallow=1e5))),
             r'model.supervisions.ddae.loss.schedule: DDAEExponentSchedule\(shallow=100000.0')):
        bad = cfg.copy()
        bad.supervisions = dict(ddae=dict(cfg.supervisions.ddae, **change))
        with pytest.raises(ValueError, match=message):
            build_model(bad)
    bad = cfg.copy()  # the schedule is stated once, in the final loss: checked there
    bad.head = dict(cfg.head, loss=dict(
        cfg.head.loss, schedule=dict(type='DDAEExponentSchedule', shallow=1e5)))
    with pytest.raises(ValueError, match='model.supervisions.ddae.loss.schedule: taken from '
                                         'model.head.loss.schedule, gives g'):
        build_model(bad)


def test_the_taps_follow_the_final_losss_schedule_and_metric_or_fail_naming_both():
    from mmengine.config import Config

    from mim_deepsup.testing import build_model
    cfg = Config.fromfile(TINY_DDAE).model
    assert cfg.head.loss.type == 'DDAEPixelLoss' and 'schedule' not in cfg.supervisions.ddae
    schedule = dict(type='DDAEExponentSchedule', shallow=0.5, deep=-2.0, end=0.8)
    stated = cfg.copy()
    stated.head = dict(cfg.head, loss=dict(cfg.head.loss, schedule=schedule,
                                           metric='manhattan'))
    model = build_model(stated)
    final = model.head.loss_module
    for tap in model.supervisions.ddae.losses.values():  # g(depth, t) and d as the final's
        assert vars(tap.schedule) == vars(final.schedule) == dict(
            shallow=0.5, deep=-2.0, start=0.0, end=0.8)
        assert tap.metric == final.metric == 'manhattan'
    both = stated.copy()  # the same stated in both places: allowed
    both.supervisions = dict(ddae=dict(cfg.supervisions.ddae, metric='manhattan',
                                       loss=dict(schedule=dict(schedule))))
    build_model(both)
    for change, message in (
            (dict(loss=dict(schedule=dict(schedule, deep=-1.0))),
             r'model.supervisions.ddae.loss.schedule: DDAEExponentSchedule\(shallow=0.5, '
             r'deep=-1.0.*but model.head.loss.schedule is DDAEExponentSchedule\(shallow=0.5, '
             r'deep=-2.0'),
            (dict(metric='chebyshev'),
             "model.supervisions.ddae.metric: 'chebyshev', but model.head.loss.metric is "
             "'manhattan'")):
        bad = stated.copy()
        bad.supervisions = dict(ddae=dict(cfg.supervisions.ddae, **change))
        with pytest.raises(ValueError, match=message):
            build_model(bad)


def test_ddae_and_lut_in_one_model_run_the_teacher_once_per_view():
    from mmengine.config import Config

    from mim_deepsup.testing import build_model
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py'))
    ddae = Config.fromfile(TINY_DDAE).model
    cfg.model.supervisions.ddae = ddae.supervisions.ddae
    cfg.model.head.loss = ddae.head.loss
    model = build_model(cfg.model)
    calls = []
    handle = model.teacher['backbone'].register_forward_hook(
        lambda m, args, out: calls.append(len(args[0])))
    views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    losses = model.loss(views, None)
    handle.remove()
    assert calls == [8]  # one pass over both unmasked views, shared by LUT and DDAE
    assert {'loss_mim', 'loss_lut', 'loss_ddae_l2', 'loss_ddae_l4'} == set(losses)
    # DDAE's features are the teacher's on view 1, the MIM view
    assert all(torch.isfinite(v) for v in losses.values())


def test_weighting_benchmark_runs(capsys):
    from benchmarks.ddae_weights import main
    main(['--batch-size', '2', '--grid', '4', '--reps', '3'])
    out = capsys.readouterr().out
    assert 'distance map: ' in out and 'one DDAE step (2 maps, 3 weightings): ' in out


def test_ddae_configs_differ_from_their_bases_only_where_they_say():
    from mmengine.config import Config

    from mim_deepsup.testing import config_differences as differing

    def load(name):
        return Config.fromfile(osp.join(ROOT, 'configs', name)).to_dict()

    mae_ddae = load('ddae/ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    base = load('_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    assert differing(mae_ddae, base) == ['model.head.loss.type', 'model.supervisions.ddae']
    short = load('ddae/ddae_vit-base-p16_8xb512-amp-coslr-100e_in1k.py')
    assert differing(short, mae_ddae) == ['param_scheduler', 'train_cfg.max_epochs']
    long = load('ddae/ddae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py')
    assert differing(long, short) == ['param_scheduler', 'train_cfg.max_epochs']
    tiny = load('ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py')
    mae = load('mae/mae_vit-tiny-p4_1xb32-20e_demo.py')
    assert differing(tiny, mae) == ['model.head.loss.type', 'model.supervisions.ddae']
    beit = load('ddae/ddae_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')
    beit_base = load('_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')
    assert differing(beit, beit_base) == ['model.head.type', 'model.supervisions.ddae']
    beit_tiny = load('ddae/ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py')
    assert differing(beit_tiny, load('beitv2/beitv2_vit-tiny-p4_1xb32-20e_demo.py')) == [
        'model.head.type', 'model.supervisions.ddae']


# --- BEiT-v2's token loss with distance weights -------------------------------------------

def beit_heads(seed=0):
    from mmpretrain.registry import MODELS

    import mim_deepsup  # noqa: F401
    args = dict(embed_dims=16, num_embed=10,
                loss=dict(type='mmpretrain.CrossEntropyLoss'))
    torch.manual_seed(seed)
    ours = MODELS.build(dict(type='DDAEBEiTV2Head', **args))
    theirs = MODELS.build(dict(type='mmpretrain.BEiTV2Head', **args))
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def beit_batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    feats = torch.randn(2, 16, 16, generator=generator)  # (B, N, C), a 4 x 4 grid
    feats_cls_pt = torch.randn(2, 16, 16, generator=generator)
    target = torch.randint(0, 10, (2, 16), generator=generator)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)  # BEiT's block mask, (B, h, w)
    mask[0, :2, :3] = True
    mask[1, 1:4, 1:4] = True
    return feats, feats_cls_pt, target, mask


def test_beitv2_head_at_zero_exponent_is_mmpretrains():
    ours, theirs = beit_heads()
    batch = beit_batch()
    state = MIMState(inputs=None, mask=batch[3].flatten(1).float(), grid=(4, 4), progress=0.0)
    for a, b in zip(ours.loss(*batch, state=state), theirs.loss(*batch)):
        assert torch.allclose(a, b, rtol=1e-6, atol=0)


def test_beitv2_head_weights_the_masked_cross_entropy_by_distance():
    import torch.nn.functional as F

    from mim_deepsup.methods.ddae import distance_weights
    ours, _ = beit_heads()
    feats, feats_cls_pt, target, mask = beit_batch()
    # the default schedule at depth 1, t = 1: g = -1
    state = MIMState(inputs=None, mask=mask.flatten(1).float(), grid=(4, 4), progress=1.0)
    flat = mask.flatten(1)
    w = distance_weights(brute_force(flat, 4, 4, 'euclidean'), flat.float(), -1.0)[flat]
    for got, x in zip(ours.loss(feats, feats_cls_pt, target, mask, state), (feats, feats_cls_pt)):
        ce = F.cross_entropy(ours.cls_head(x[flat]), target[flat], reduction='none')
        assert got.item() == pytest.approx((ce * w).mean().item(), rel=1e-6)
    # near patches count more at g < 0: the weights are not all equal
    assert w.max() > 1.2 * w.min()


# --- DDAE on BEiT-v2, by config only -------------------------------------------------------

TINY_DDAE_BEIT = osp.join(ROOT, 'configs', 'ddae', 'ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py')


def test_beitv2_ddae_runner_iterations(demo_data, tmp_path):
    from mmengine.runner import Runner

    import mim_deepsup.testing  # noqa: F401  (registers StartSnapshotHook)
    from mim_deepsup.testing import tiny_runner_cfg
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=TINY_DDAE_BEIT)
    cfg.custom_hooks.append(dict(type='StartSnapshotHook'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('train/loss_1', 'train/loss_2', 'train/loss_ddae_l2', 'train/loss_ddae_l4'):
        values = hub.get_scalar(key).data[0].tolist()
        assert len(values) == 4 and all(math.isfinite(v) for v in values), key
    model = runner.model
    assert type(model.head).__name__ == 'DDAEBEiTV2Head'
    assert model.progress == 0.75  # the progress hook reaches the algorithm
    # the teacher moved by EMA steps: a little, towards a student that moved more
    key = 'layers.0.ffn.layers.1.weight'
    start = runner.start_state
    moved = (model.teacher['backbone'].state_dict()[key] - start[f'teacher.ema.backbone.{key}'])
    learned = model.backbone.state_dict()[key] - start[f'backbone.{key}']
    assert torch.equal(start[f'teacher.ema.backbone.{key}'], start[f'backbone.{key}'])
    assert 0 < moved.norm() < 0.05 * learned.norm()


def test_beitv2_intermediate_heads_regress_the_teachers_features():
    import torch.nn.functional as F
    from mmengine.config import Config
    from mmpretrain.structures import DataSample

    from mim_deepsup.methods.ddae import distance_weights
    from mim_deepsup.testing import build_model
    model = build_model(Config.fromfile(TINY_DDAE_BEIT).model)
    set_progress(model, 0.5)
    generator = torch.Generator().manual_seed(0)
    images = [torch.randn(2, 3, 32, 32, generator=generator) for _ in range(2)]
    samples = []
    for b in range(2):
        mask = torch.zeros(8, 8, dtype=torch.bool)
        mask[b:b + 4, 2:6] = True
        samples.append(DataSample().set_mask(mask))
    captured = {}
    handle = model.backbone.layers[1].register_forward_hook(
        lambda m, a, out: captured.setdefault('l2', out))
    losses = model.loss(images, samples)
    handle.remove()
    with torch.no_grad():
        teacher = model.teacher['backbone'](images[0], mask=None)[-1][:, 1:]
    target = F.layer_norm(teacher, (64, ), eps=1e-6)
    flat = torch.stack([s.mask for s in samples]).flatten(1).float()
    w = distance_weights(brute_force(flat, 8, 8, 'euclidean'), flat, 0.5 * (1 - 2 * 2 / 6))
    pred = model.supervisions['ddae'].heads['l2'](captured['l2'][:, 1:])
    expected = ((pred - target).pow(2).mean(-1) * w).sum() / flat.sum()
    assert losses['loss_ddae_l2'].item() == pytest.approx(expected.item(), rel=1e-5)
    losses['loss_ddae_l2'].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in model.backbone.layers[2].parameters())
