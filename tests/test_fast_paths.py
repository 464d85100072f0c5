"""Every fast path of the training step against the straightforward one, on tiny models.

- one teacher pass shared by DDAE and LUT against each technique running its own model
  (and so its own teacher pass): the same losses and gradients;
- fused AdamW (our pretraining configs) against torch's default AdamW: the same update;
- fp32 scaled-dot-product attention under CPU bf16 autocast (BF16OptimWrapper) against
  torch's bf16 kernel: exact fp32 attention, the same model otherwise.
Batched against separate views is tests/test_lut.py::test_batched_views_equal_separate_passes.
"""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.registry import OPTIM_WRAPPERS

from mim_deepsup.benchmarking.cpu_tuning import fp32_attention_on_cpu, use_fp32_attention_on_cpu
from mim_deepsup.testing import ROOT, TINY_MAE, build_model


def two_views(batch=4, size=32, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, size, size, generator=generator) for _ in range(2)]


def tiny(path):
    return Config.fromfile(osp.join(ROOT, 'configs', path))


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


# ------------------------------------------------ shared teacher pass (DDAE + LUT)


def test_shared_teacher_pass_equals_each_technique_with_its_own():
    """DDAE+LUT runs the teacher once over both views; DDAE alone runs it on view 1 and LUT
    alone on both views. With the same weights and masks, every loss and gradient agrees."""
    combined = build_model(tiny('ddae/ddae-lut_vit-tiny-p4_1xb32-20e_demo.py').model)
    ddae = build_model(tiny('ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py').model, seed=1)
    lut = build_model(tiny('lut/lut_vit-tiny-p4_1xb32-20e_demo.py').model, seed=2)
    weights = combined.state_dict()
    for single in (ddae, lut):
        missing, _ = single.load_state_dict(weights, strict=False)
        assert missing == []  # every weight of the single-technique model comes from combined
    for model in (combined, ddae, lut):
        model.set_progress(0.5)  # DDAE's weights as in mid-training (g = 0 at t = 0)
    views = two_views()
    torch.manual_seed(5)  # the same noise: view 1's masks are the single-view model's
    both = combined.loss(views, None)
    torch.manual_seed(5)
    alone = ddae.loss(views[0], None)  # loss_mim (distance-weighted) and DDAE's taps
    torch.manual_seed(5)
    lut_alone = lut.loss(views, None)
    assert set(both) == set(alone) | {'loss_lut'}
    expected = dict(alone, loss_lut=lut_alone['loss_lut'])
    for key, value in both.items():
        assert value.item() == pytest.approx(expected[key].item(), rel=1e-5), key
    # the gradient of the combined total is DDAE's total's plus LUT's broader-context term's
    sum(both.values()).backward()
    sum(alone.values()).backward()
    lut_alone['loss_lut'].backward()
    reference = grads(ddae)
    for name, grad in grads(lut).items():
        reference[name] = reference[name] + grad if name in reference else grad
    got = grads(combined)
    assert got.keys() == reference.keys()
    for name in got:
        assert torch.allclose(got[name], reference[name], rtol=1e-4, atol=1e-6), name


# ------------------------------------------------------------------ fused AdamW


def test_pretraining_configs_use_fused_adamw():
    for path in ('_base_/composable-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
                 '_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py',
                 'ddae/ddae-lut_vit-tiny-p4_1xb32-20e_demo.py'):
        assert tiny(path).optim_wrapper.optimizer.fused is True, path


# ------------------------------------------------------- fp32 attention on the CPU


def qkv(dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 4, 17, 16, generator=generator).to(dtype) for _ in range(3)]


def test_fp32_attention_is_exact_fp32_attention_cast_back():
    q, k, v = qkv(torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fp32_attention_on_cpu(q, k, v)
        native = F.scaled_dot_product_attention(q, k, v)
    fp32 = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out.dtype == torch.bfloat16 == native.dtype
    assert torch.equal(out, fp32.to(torch.bfloat16))
    exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
    # bf16 rounding of the output only, against the bf16 kernel's rounding along the way
    assert (out.double() - exact).abs().max() <= (native.double() - exact).abs().max()
    # fp32 inputs (no autocast, or CUDA): torch's function, bit for bit
    q, k, v = qkv(torch.float32)
    assert torch.equal(fp32_attention_on_cpu(q, k, v, dropout_p=0.0),
                       F.scaled_dot_product_attention(q, k, v, dropout_p=0.0))


def test_bf16_wrapper_puts_every_attention_in_fp32_once_and_can_be_told_not_to():
    cfg = Config.fromfile(TINY_MAE)
    model = build_model(cfg.model)
    attentions = [m for m in model.modules()
                  if vars(m).get('scaled_dot_product_attention') is not None]
    assert attentions
    off = OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper', fp32_cpu_attention=False,
                                    optimizer=torch.optim.SGD(model.parameters(), 0.0)))
    with off.optim_context(model):
        pass
    assert all(m.scaled_dot_product_attention is F.scaled_dot_product_attention
               for m in attentions)
    on = OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper',
                                   optimizer=torch.optim.SGD(model.parameters(), 0.0)))
    with on.optim_context(model):
        pass
    assert all(m.scaled_dot_product_attention is fp32_attention_on_cpu for m in attentions)
    # the encoder's blocks and the decoder's
    assert len(attentions) == len(model.backbone.layers) + len(model.neck.decoder_blocks)
    assert use_fp32_attention_on_cpu(model) == 0  # nothing left to change


def test_fp32_attention_gradients_are_fp32_attentions():
    """The backward through the fast path: q, k, v gradients equal those of fp32 attention
    (rounded once to bf16), and are closer to fp64's than torch's bf16 kernel's; an
    additive float mask is cast with q, k, v."""
    q, k, v = (t.requires_grad_() for t in qkv(torch.bfloat16))
    mask = torch.randn(17, 17).to(torch.bfloat16)
    grad_out = torch.randn(2, 4, 17, 16, generator=torch.Generator().manual_seed(1))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fp32_attention_on_cpu(q, k, v, attn_mask=mask)
    out.backward(grad_out.to(torch.bfloat16))
    fast = [t.grad for t in (q, k, v)]
    ref = [t.detach().float().requires_grad_() for t in (q, k, v)]
    F.scaled_dot_product_attention(*ref, attn_mask=mask.float()).backward(
        grad_out.to(torch.bfloat16).float())
    assert all(g.dtype == torch.bfloat16 for g in fast)
    for got, want in zip(fast, ref):
        assert torch.equal(got, want.grad.to(torch.bfloat16))
    exact = [t.detach().double().requires_grad_() for t in (q, k, v)]
    F.scaled_dot_product_attention(*exact, attn_mask=mask.double()).backward(
        grad_out.to(torch.bfloat16).double())
    native = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        F.scaled_dot_product_attention(*native, attn_mask=mask).backward(
            grad_out.to(torch.bfloat16))
    for got, bf16, want in zip(fast, native, exact):
        assert (got.double() - want.grad).abs().max() <= (
            bf16.grad.double() - want.grad).abs().max()


def test_bf16_step_with_fp32_attention_keeps_the_model_and_the_loss():
    """The same weights, data and masks: a bf16 step's loss with fp32 attention is that of
    torch's bf16 attention and of fp32 within what bf16's rounding elsewhere moves it
    (measured 3e-6 and 1.3e-4), and the fp32 loss is bit for bit unchanged by the swap."""
    cfg = Config.fromfile(TINY_MAE)
    model = build_model(cfg.model)
    images = two_views(batch=8)[0]
    optimizer = torch.optim.SGD(model.parameters(), 0.0)

    def loss(wrapper=None):
        torch.manual_seed(0)
        if wrapper is None:
            return model.loss(images, None)['loss'].item()
        with wrapper.optim_context(model):
            return model.loss(images, None)['loss'].item()

    fp32_before = loss()
    native = loss(OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper', optimizer=optimizer,
                                            fp32_cpu_attention=False)))
    fast = loss(OPTIM_WRAPPERS.build(dict(type='BF16OptimWrapper', optimizer=optimizer)))
    assert loss() == fp32_before
    assert fast != native  # the swap took effect
    assert fast == pytest.approx(fp32_before, rel=1e-3)
    assert fast == pytest.approx(native, rel=1e-4)
