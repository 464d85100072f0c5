"""DeepMIM on BEiT-v2: BEiT's own losses unchanged, light code heads on intermediate blocks."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mim_deepsup.testing import ROOT, tiny_runner_cfg
from mim_deepsup.testing import build_model as build

TINY_BEIT = osp.join(ROOT, 'configs', 'deepmim', 'deepmim_beitv2_vit-tiny-p4_1xb32-20e_demo.py')


def model_cfg(**changes):
    cfg = Config.fromfile(TINY_BEIT)
    cfg.merge_from_dict(dict(model=changes))
    return cfg.model


def batch(n=4, seed=1):
    """Two views of n images and block-ish masks of the 8 x 8 grid, 26 masked each."""
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 32, 32, generator=g) for _ in range(2)]
    samples = []
    for _ in range(n):
        order = torch.randperm(64, generator=g)[:26]
        mask = torch.zeros(64, dtype=torch.bool)
        mask[order] = True
        samples.append(DataSample().set_mask(mask.view(8, 8)))
    return views, samples


def manual_blocks(backbone, x, mask):
    """BEiTPretrainViT's masked pass written out: block (from 1) -> (B, 1 + N, C)."""
    tokens, _ = backbone.patch_embed(x)
    w = mask.flatten(1).unsqueeze(-1).float()
    tokens = tokens * (1 - w) + backbone.mask_token.expand_as(tokens) * w
    tokens = torch.cat([backbone.cls_token.expand(len(x), -1, -1), tokens], dim=1)
    if backbone.pos_embed is not None:
        tokens = tokens + backbone.pos_embed
    bias = backbone.rel_pos_bias() if backbone.rel_pos_bias is not None else None
    outputs = {}
    for i, layer in enumerate(backbone.layers, start=1):
        tokens = layer(tokens, rel_pos_bias=bias)
        outputs[i] = tokens
    return outputs


def grads(model, losses, key):
    model.zero_grad()
    losses[key].backward(retain_graph=True)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_without_components_the_losses_and_gradients_are_beit_v2s():
    ours = build(model_cfg(supervisions=dict(_delete_=True)))
    cfg = model_cfg(supervisions=dict(_delete_=True))
    cfg.type, cfg.backbone.type = 'BEiT', 'BEiTPretrainViT'
    cfg.pop('supervisions')
    beit = MODELS.build(cfg)
    beit.load_state_dict(ours.state_dict())
    beit.train()
    views, samples = batch()
    # VQ-KD's quantizer k-means-initialises its codebook on its first call in training mode
    torch.manual_seed(3)
    a = ours.loss(views, samples)
    torch.manual_seed(3)
    b = beit.loss(views, samples)
    assert sorted(a) == sorted(b) == ['loss_1', 'loss_2']
    for key in a:
        assert torch.equal(a[key], b[key])
    total_a, _ = ours.parse_losses(a)
    total_b, _ = beit.parse_losses(b)
    ga, gb = grads(ours, dict(t=total_a), 't'), grads(beit, dict(t=total_b), 't')
    assert ga.keys() == gb.keys() and len(ga) > 20
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


def test_code_heads_read_their_blocks_and_give_masked_cross_entropy():
    model = build(model_cfg(supervisions=dict(deepmim=dict(weights=[1.0, 0.5, 2.0]))))
    component = model.supervisions['deepmim']
    assert component.taps == (3, 4, 5)
    # the codebook size came from BEiT-v2's head (64 in the tiny config)
    assert component.heads['l3'].fc.out_features == model.head.cls_head.out_features == 64
    views, samples = batch()
    # the codes the loss used (VQ-KD moves its codebook in training mode: capture, not redo)
    seen = []
    model.target_generator.register_forward_hook(lambda m, a, out: seen.append(out))
    losses = model.loss(views, samples)
    assert len(seen) == 1  # the tokenizer ran once for BEiT's head and every code head
    assert sorted(losses) == ['loss_1', 'loss_2', 'loss_deepmim_l3', 'loss_deepmim_l4',
                              'loss_deepmim_l5']
    mask = torch.stack([s.mask for s in samples])  # (B, 8, 8)
    outputs = manual_blocks(model.backbone, views[0], mask)
    codes = seen[0]  # (B, N)
    selected = mask.flatten(1)
    for block, weight in ((3, 1.0), (4, 0.5), (5, 2.0)):
        logits = component.heads[f'l{block}'](outputs[block][:, 1:])  # (B, N, V)
        expected = weight * F.cross_entropy(logits[selected], codes[selected])
        assert torch.allclose(losses[f'loss_deepmim_l{block}'], expected, atol=1e-5), block


def test_code_head_gradients_reach_only_the_blocks_below_the_tap():
    model = build(model_cfg())
    views, samples = batch()
    losses = model.loss(views, samples)
    g = grads(model, losses, 'loss_deepmim_l3')
    for i in range(6):
        reached = any(k.startswith(f'backbone.layers.{i}.') and v.abs().sum() > 0
                      for k, v in g.items())
        assert reached == (i < 3), i
    assert not any(k.startswith(('neck.', 'head.', 'target_generator.')) for k in g)
    assert any(k.startswith('backbone.patch_embed.') for k in g)


def test_code_head_norms_have_no_weight_decay():
    """BEiT-v2's paramwise rule '.ln' (decay_mult 0) reaches the code heads' norms."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(TINY_BEIT)
    model = build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    norm = model.supervisions['deepmim'].heads['l3'].ln.weight
    fc = model.supervisions['deepmim'].heads['l3'].fc.weight
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    assert decay[id(norm)] == 0 and decay[id(fc)] == 0.05


def test_mae_decoders_on_beit_fail_at_build():
    cfg = model_cfg(supervisions=dict(deepmim=dict(_delete_=True, type='DeepMIMSupervision')))
    with pytest.raises(ValueError, match=r'model\.supervisions\.deepmim: DeepMIMSupervision reads '
                                         r'taps of visible tokens, but ComposableBEiT'):
        MODELS.build(cfg)


def test_backbone_state_dict_is_beit_pretrain_vit():
    model = build(model_cfg())
    plain = MODELS.build(dict(model_cfg().backbone, type='BEiTPretrainViT'))
    keys = [k[len('backbone.'):] for k in model.state_dict() if k.startswith('backbone.')]
    assert keys == list(plain.state_dict())


def test_runner_iterations(demo_data, tmp_path):
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=TINY_BEIT, max_epochs=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    history = runner.message_hub.log_scalars
    for key in ('loss_1', 'loss_2', 'loss_deepmim_l3', 'loss_deepmim_l4', 'loss_deepmim_l5'):
        values = history[f'train/{key}'].data[0].tolist()
        assert len(values) == 2 and all(v == v and v > 0 for v in values), key
    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), weights_only=True)
    assert any(k.startswith('supervisions.deepmim.heads.l3.') for k in ckpt['state_dict'])
