"""What stays fp32 under bf16 autocast on the CPU (docs/mixed_precision.md).

Every tiny config trains a few iterations through BF16OptimWrapper with finite fp32 losses.
Then, one test per place that must not be computed in bf16: the EMA teacher's update, MAE's
norm_pix target, the pixel and feature losses' per-patch errors and reductions, DDAE's
distance map and weights, LUT's cosine, the BEiT-v2 token cross-entropies. Each compares
the value computed under autocast with an fp64 (or fp32) reference of the same inputs, to
a tolerance that a bf16 computation misses, and shows on the same data that bf16 would
miss it. DeepMIM's CLIP-target cosine loss is FP32CosineSimilarityLoss: mmpretrain's
CosineSimilarityLoss computed it in bf16 (1.4 % off at a loss of 0.01).
"""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS, OPTIM_WRAPPERS

from mim_deepsup.core import MIMState
from mim_deepsup.methods.ddae import distance_weights, patch_distances
from mim_deepsup.methods.lut import cross_view_cosine_loss
from mim_deepsup.testing import ROOT, build_model

BF16 = dict(device_type='cpu', dtype=torch.bfloat16)
TINY = ['mae/mae', 'deepmim/deepmim', 'ddae/ddae', 'lut/lut', 'beitv2/beitv2',
        'deepmim/deepmim_beitv2', 'ddae/ddae_beitv2']


def tiny_config(name):
    return Config.fromfile(osp.join(ROOT, 'configs', f'{name}_vit-tiny-p4_1xb32-20e_demo.py'))


def tiny_model(name, seed=0):
    return build_model(tiny_config(name).model, seed=seed)


def rel(value, reference):
    """Relative error of a scalar against an fp64 reference."""
    return abs(float(value) - float(reference)) / abs(float(reference))


def real_batch(cfg, demo_data, seed):
    """A batch of 8 from the config's own pipeline (views, BEiT masks, ...)."""
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.update(batch_size=8, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = demo_data['imagenet']
    return next(iter(Runner.build_dataloader(loader, seed=seed)))


# ------------------------------------------------------- a few training iterations in bf16


@pytest.mark.parametrize('name', TINY)
def test_each_tiny_config_trains_bf16_iterations_with_finite_fp32_losses(name, demo_data):
    cfg = tiny_config(name)
    model = build_model(cfg.model)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='BF16OptimWrapper',
        optimizer=torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                    lr=1e-4)))
    for step in range(3):
        model.set_progress(step / 3)  # what TrainingProgressHook does before the step
        data = model.data_preprocessor(real_batch(cfg, demo_data, seed=step), True)
        with wrapper.optim_context(model):
            losses = model(**data, mode='loss')
        for key, value in losses.items():
            if 'loss' in key:
                assert value.dtype == torch.float32, (step, key, value.dtype)
                assert math.isfinite(value.item()), (step, key, value)
        wrapper.update_params(model.parse_losses(losses)[0])
        model.update_teacher()  # what EMATeacherHook does after it
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(b.dtype == torch.float32 for b in model.buffers() if b.is_floating_point())


# --------------------------------------------------------------------- the EMA teacher


@pytest.mark.parametrize('name', ['ddae/ddae', 'lut/lut'])
def test_ema_update_is_fp32_even_inside_autocast(name):
    """One update at m = 0.996 moves each weight (~0.02) by ~4e-6: below half a bf16 step
    (~4e-5 at 0.02), so a bf16 teacher would not move at all."""
    model = tiny_model(name)
    with torch.no_grad():  # the student moves away from the teacher
        for key, p in model.named_parameters():
            if not key.startswith('teacher.'):
                p.add_(torch.randn_like(p) * 1e-3)
    teacher, student = {}, dict(model.named_parameters())
    for path in model.teacher.sources:
        for key, value in model.teacher[path].named_parameters():
            teacher[key, path] = (value, value.detach().double().clone(),
                                  student[f'{path}.{key}'].detach().double())
    weight = 1 - model.teacher.momentum(0.0)
    with torch.autocast(**BF16):
        model.set_progress(0.0)
        model.update_teacher()
    moved = moved_bf16 = total = 0
    for (key, path), (value, old, source) in teacher.items():
        assert value.dtype == torch.float32, (path, key)
        expected = old + weight * (source - old)
        torch.testing.assert_close(value.double(), expected, rtol=2.5e-7, atol=1e-10)
        moved += (value.double() != old).sum().item()
        total += value.numel()
        # a bf16 teacher: the same update leaves most weights where they were
        bf16 = old.bfloat16()
        moved_bf16 += (bf16.lerp(source.bfloat16(), weight) != bf16).sum().item()
    assert moved > 0.99 * total
    assert moved_bf16 < 0.5 * total


# ------------------------------------------------------------------- MAE's pixel target


@pytest.mark.parametrize('name', ['mae/mae', 'deepmim/deepmim'])
def test_norm_pix_target_is_computed_in_fp32(name):
    """The patchify einsum is a permutation (no matmul: autocast leaves it fp32); mean and
    var are not autocast ops. DeepMIM's auxiliary decoders use their own head's target."""
    model = tiny_model(name)
    heads = [model.head] + [c.head for c in model.supervisions.values() if hasattr(c, 'head')]
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 + 0.5
    for head in heads:
        reference = head.construct_target(images)
        with torch.autocast(**BF16):
            target = head.construct_target(images)
        assert target.dtype == torch.float32
        assert torch.equal(target, reference)
        # the check can fail: the target of bf16 patches is not the same
        assert not torch.equal(head.construct_target(images.bfloat16()).float(), reference)


# --------------------------------------------------------- per-patch errors, reductions


def decoder_like(shape, seed):
    """A bf16 prediction (a decoder's Linear under autocast gives bf16) and an fp32 target."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(*shape, generator=g)
    pred = (target + 0.3 * torch.randn(*shape, generator=g)).bfloat16()
    return pred, target


def masked_mean_error(pred, target, weights):
    """sum_j w_j * mean_c (pred - target)^2 / sum_j mask_j, in fp64."""
    err = (pred.double() - target.double()).pow(2).mean(-1)  # (B, N)
    return (err * weights.double()).sum() / (weights != 0).double().sum()


def test_mae_pixel_loss_computes_errors_and_sums_in_fp32():
    """mse_loss is on the CPU autocast's fp32 list: the bf16 prediction is upcast, and the
    per-patch errors and the masked sum stay fp32."""
    loss = tiny_model('mae/mae').head.loss_module  # PixelReconstructionLoss, L2
    pred, target = decoder_like((8, 64, 48), seed=1)
    mask = (torch.rand(8, 64, generator=torch.Generator().manual_seed(2)) < 0.75).float()
    reference = masked_mean_error(pred, target, mask)
    with torch.autocast(**BF16):
        value = loss(pred, target, mask)
    assert value.dtype == torch.float32
    assert rel(value, reference) < 1e-6
    bf16 = ((pred - target.bfloat16()).pow(2).mean(-1) * mask.bfloat16()).sum() / mask.sum()
    assert rel(bf16, reference) > 1e-4  # what a bf16 error and sum would give


def test_ddae_distance_map_and_weights_are_fp32():
    """Distances are built in fp32 (sqrt(5) exactly as fp32 has it), d ** g is not an
    autocast op, and the weights keep fp32's precision for a fractional exponent."""
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(4, 64, generator=g) < 0.75).float()
    reference = patch_distances(mask, (8, 8))
    with torch.autocast(**BF16):
        distances = patch_distances(mask, (8, 8))
        weights = distance_weights(distances, mask, 1.37)
    assert distances.dtype == weights.dtype == torch.float32
    assert torch.equal(distances, reference)
    assert (distances == torch.tensor(math.sqrt(5))).any()  # fp32's sqrt(5) occurs
    d = reference.double()
    expected = torch.where(mask.bool(), d.clamp(min=1), torch.ones_like(d)).pow(1.37) * mask
    expected = expected / (expected.sum(1, keepdim=True) / mask.sum(1, keepdim=True))
    torch.testing.assert_close(weights.double(), expected, rtol=1e-6, atol=0)
    assert (distances.bfloat16().double() != d).any()  # bf16 cannot hold these distances


def test_ddae_pixel_and_feature_losses_weight_and_normalise_in_fp32():
    """DDAE's final (pixel) and intermediate (feature) losses under autocast: weighted
    errors and sums in fp32; the feature target is layer-normalised in fp32."""
    model = tiny_model('ddae/ddae')
    pixel = model.head.loss_module
    feature = next(iter(model.supervisions.ddae.losses.values()))
    mask = (torch.rand(8, 64, generator=torch.Generator().manual_seed(4)) < 0.75).float()
    state = MIMState(inputs=None, mask=mask, grid=(8, 8), progress=0.5)
    distances = patch_distances(mask, (8, 8))

    pred, target = decoder_like((8, 64, 48), seed=5)
    weights = distance_weights(distances, mask, pixel.exponent(state))
    with torch.autocast(**BF16):
        value = pixel(pred, target, mask, state)
    assert value.dtype == torch.float32
    assert rel(value, masked_mean_error(pred, target, weights)) < 1e-6

    pred, tokens = decoder_like((8, 64, 64), seed=6)
    tokens = tokens * 3 + 1  # teacher tokens: not normalised yet
    weights = distance_weights(distances, mask, feature.exponent(state))
    normalised = F.layer_norm(tokens.double(), (64, ), eps=1e-6)
    reference = masked_mean_error(pred, normalised, weights)
    with torch.autocast(**BF16):
        value = feature(pred, tokens, mask, state)
    assert value.dtype == torch.float32
    assert rel(value, reference) < 1e-6
    bf16_target = F.layer_norm(tokens.bfloat16(), (64, ), eps=1e-6)  # 1.3e-5 off here
    assert rel(masked_mean_error(pred, bf16_target, weights), reference) > 1e-6


def test_ddae_teacher_tokens_reach_the_feature_loss_in_fp32(demo_data):
    """The teacher runs under autocast (bf16 matmuls), but its tokens come out fp32: the
    ViT's residual stream is fp32 (the fp32 position embedding promotes the patch
    embedding) and the final LayerNorm keeps its input's dtype."""
    cfg = tiny_config('ddae/ddae')
    model = build_model(cfg.model)
    data = model.data_preprocessor(real_batch(cfg, demo_data, seed=0), True)
    with torch.autocast(**BF16):
        state = model.compute_state(data['inputs'], data['data_samples'])
    assert state.teacher_tokens.dtype == torch.float32


# --------------------------------------------------------------------------- LUT, BEiT-v2


def test_lut_cosine_is_computed_in_fp32():
    """q and k arrive in bf16 (the projector's and predictor's last Linear); near
    convergence cos is ~0.995, where bf16's step (2 ** -8 below 1) is most of 2 - 2 cos."""
    g = torch.Generator().manual_seed(7)
    k = torch.randn(2, 32, 64, generator=g)
    q = (k.flip(0) + 0.1 * torch.randn(2, 32, 64, generator=g)).bfloat16()
    k = k.bfloat16()
    cos = F.cosine_similarity(q.double()[:, None], k.double()[None], dim=-1)  # (V, V, B)
    reference = (2 - 2 * cos)[[0, 1], [1, 0]].mean()
    with torch.autocast(**BF16):
        value = cross_view_cosine_loss(q, k)
    assert value.dtype == torch.float32
    assert rel(value, reference) < 1e-5
    bf16 = (2 - 2 * (F.normalize(q, dim=-1)[[0, 1]] * F.normalize(k, dim=-1)[[1, 0]]).sum(-1))
    assert rel(bf16.float().mean(), reference) > 1e-3


def token_state(model, seed):
    """Taps of every position and BEiT's block-wise mask for the tiny BEiT-v2 (8 x 8)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(4, 8, 8, generator=g) < 0.4
    codes = torch.randint(0, 64, (4, 64), generator=g)
    taps = {b: torch.randn(4, 65, 64, generator=g) for b in model.taps}
    return MIMState(inputs=None, grid=(8, 8), mask=mask.flatten(1).float(),
                    taps=taps, target=codes), mask, codes


def test_beitv2_token_cross_entropies_are_fp32():
    """cross_entropy is on the CPU autocast's fp32 list: bf16 logits are upcast before the
    log-softmax; DDAE's weighted mean over the masked patches stays fp32."""
    model = tiny_model('ddae/ddae_beitv2')
    head = model.head  # DDAEBEiTV2Head
    state, mask, codes = token_state(model, seed=8)
    state.progress = 0.5
    feats = torch.randn(4, 64, 64, generator=torch.Generator().manual_seed(9))
    index = mask.flatten().nonzero().squeeze(1)
    with torch.autocast(**BF16):
        loss_1, loss_2 = head.loss(feats, feats, codes, mask, state)
        logits = head.cls_head(feats.flatten(0, 1)[index])  # bf16, as the head gets them
    assert logits.dtype == torch.bfloat16 and loss_1.dtype == torch.float32
    weights = head.weights(state).flatten()[index].double()
    ce = F.cross_entropy(logits.double(), codes.flatten()[index], reduction='none')
    reference = (ce * weights).mean()
    assert rel(loss_1, reference) < 1e-6 and rel(loss_2, reference) < 1e-6
    bf16 = (-(logits.log_softmax(-1).gather(1, codes.flatten()[index, None]).squeeze(1))
            * weights.bfloat16()).mean()
    assert rel(bf16.float(), reference) > 1e-4

    model = tiny_model('deepmim/deepmim_beitv2')
    component = model.supervisions.deepmim  # DeepMIMTokenSupervision
    state, mask, codes = token_state(model, seed=10)
    index = mask.flatten().nonzero().squeeze(1)
    with torch.autocast(**BF16):
        losses = component.loss(state, None)
    for block, weight in zip(component.taps, component.weights):
        with torch.autocast(**BF16):
            logits = component.heads[f'l{block}'](state.taps[block][:, 1:].flatten(0, 1)[index])
        reference = weight * F.cross_entropy(logits.double(), codes.flatten()[index])
        value = losses[f'loss_l{block}']
        assert value.dtype == torch.float32 and rel(value, reference) < 1e-6, block


# ------------------------------------------- the place that was bf16 (mmpretrain's loss)


def test_clip_target_cosine_loss_is_computed_in_fp32():
    """The loss every DeepMIM-CLIP decoder uses (the head's loss_module), on bf16
    predictions and bf16 targets (a frozen CLIP under autocast) that agree to cos ~0.995."""
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'deepmim', 'deepmim-clip_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'))
    head = MODELS.build(cfg.model.head)
    g = torch.Generator().manual_seed(11)
    target = torch.randn(8, 196, 512, generator=g)
    pred = (target + 0.1 * torch.randn(8, 196, 512, generator=g)).bfloat16()
    target = target.bfloat16()
    mask = (torch.rand(8, 196, generator=g) < 0.75).float()
    cos = F.cosine_similarity(pred.double(), target.double(), dim=-1)
    reference = ((2 - 2 * cos) * mask).sum() / mask.sum()
    with torch.autocast(**BF16):
        value = head.loss_module(pred, target, mask)
    assert value.dtype == torch.float32
    assert rel(value, reference) < 1e-4
