"""MaskFeat: ComposableMaskFeat against mmpretrain's MaskFeat, DeepMIM's HOG heads and
DDAE's weighted loss and teacher pass, by hand."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

from mim_deepsup.testing import build_model, config_path, loss_and_gradients, model_config

MASKFEAT = config_path('maskfeat', 'maskfeat_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_MASKFEAT = config_path('deepmim', 'deepmim_maskfeat_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_MASKFEAT = config_path('ddae', 'ddae_maskfeat_vit-tiny-p4_1xb32-20e_demo.py')


def batch(n=4, seed=1):
    """(n, 3, 32, 32) images and the tiny config's block-wise masks (25 of 64 patches)."""
    x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    generator = TRANSFORMS.build(dict(type='BEiTMaskGenerator', input_size=8,
                                      num_masking_patches=25, min_num_patches=4))
    np.random.seed(seed)
    samples = []
    for _ in range(n):
        sample = DataSample()
        sample.set_mask(torch.from_numpy(generator.transform({})['mask']))
        samples.append(sample)
    return x, samples


def masked_pass(backbone, x, mask):
    """MaskFeatViT's masked pass written out: every block's raw output (from 1)."""
    tokens = backbone.patch_embed(x)[0]
    w = mask.flatten(1).unsqueeze(-1).float()
    tokens = tokens * (1 - w) + backbone.mask_token.expand_as(tokens) * w
    tokens = torch.cat([backbone.cls_token.expand(len(x), -1, -1), tokens], 1)
    tokens = tokens + backbone.pos_embed
    outputs = {}
    for block, layer in enumerate(backbone.layers, start=1):
        tokens = layer(tokens)
        outputs[block] = tokens
    return outputs


def masked_mse(pred, target, mask):
    return (((pred - target)**2).mean(-1) * mask).sum() / mask.sum()


def test_without_components_it_is_mmpretrains_maskfeat_loss_and_gradients():
    ours = build_model(model_config(MASKFEAT))
    theirs_cfg = model_config(MASKFEAT)
    theirs_cfg.type, theirs_cfg.backbone.type = 'MaskFeat', 'MaskFeatViT'
    theirs_cfg.pop('supervisions')
    theirs = MODELS.build(theirs_cfg)
    assert type(theirs).__name__ == 'MaskFeat'
    theirs.load_state_dict(ours.state_dict())
    x, samples = batch()
    their_keys, their_loss, their_grads = loss_and_gradients(theirs, x, samples)
    keys, loss, grads = loss_and_gradients(ours, x, samples)
    assert keys == their_keys == ['loss']
    assert torch.equal(loss, their_loss)
    assert grads.keys() == their_grads.keys() and len(grads) > 30
    for name in grads:
        assert torch.equal(grads[name], their_grads[name]), name


def test_deepmim_heads_predict_the_hog_of_the_masked_patches_from_each_tap():
    model = build_model(model_config(DEEPMIM_MASKFEAT))
    component = model.supervisions['deepmim']
    assert component.taps == (3, 4, 5)
    x, samples = batch()
    losses = model.loss(x, samples)
    mask = torch.stack([s.mask for s in samples]).flatten(1).float()  # (4, 64)
    hog = model.target_generator(x)  # (4, 64, 108)
    outputs = masked_pass(model.backbone, x, mask)
    for block in (3, 4, 5):
        head = component.heads[f'l{block}']
        tokens = F.layer_norm(outputs[block][:, 1:], (64, ), head.ln.weight, head.ln.bias,
                              eps=1e-6)
        pred = tokens @ head.fc.weight.T + head.fc.bias  # (4, 64, 108)
        torch.testing.assert_close(losses[f'loss_deepmim_l{block}'],
                                   masked_mse(pred, hog, mask), atol=1e-6, rtol=1e-5)
    final = model.backbone.norm1(outputs[6])
    pred = model.neck((final.flatten(0, 1), ))[0].view(4, 65, 108)[:, 1:]
    torch.testing.assert_close(losses['loss_mim'], masked_mse(pred, hog, mask), atol=1e-6,
                               rtol=1e-5)


def test_ddae_weights_maskfeats_loss_and_reads_one_teacher_pass():
    model = build_model(model_config(DDAE_MASKFEAT))
    plain = build_model(model_config(MASKFEAT))
    plain.load_state_dict(model.state_dict(), strict=False)
    calls = []
    model.teacher['backbone'].register_forward_hook(lambda *a: calls.append(1))
    x, samples = batch()
    model.set_progress(0.0)  # g = 0: MaskFeat's loss exactly
    losses = model.loss(x, samples)
    assert len(calls) == 1
    assert torch.equal(losses['loss_mim'], plain.loss(x, samples)['loss'])
    # the teacher's tokens: its final-normed unmasked pass, as DDAE's feature target
    mask = torch.stack([s.mask for s in samples]).flatten(1).float()
    teacher = model.teacher['backbone'](x, mask=None)[-1][:, 1:]  # (4, 64, 64)
    outputs = masked_pass(model.backbone, x, mask)
    head = model.supervisions['ddae'].heads['l2']
    pred = head(outputs[2][:, 1:])
    target = F.layer_norm(teacher, (64, ), eps=1e-6)
    torch.testing.assert_close(losses['loss_ddae_l2'], masked_mse(pred, target, mask),
                               atol=1e-6, rtol=1e-5)
    model.set_progress(1.0)  # distance weights on the block-wise mask
    assert not torch.allclose(model.loss(x, samples)['loss_mim'], losses['loss_mim'],
                              rtol=1e-4)


@pytest.mark.parametrize('changes, message', [
    (dict(supervisions=dict(deepmim=dict(type='DeepMIMSupervision'))),
     r'^model.supervisions.deepmim: DeepMIMSupervision reads taps of visible tokens'),
    (dict(supervisions=dict(deepmim=dict(type='DeepMIMFeatureHeads', taps=[3, 6]))),
     r'^model.supervisions.deepmim.taps: expected blocks 1\.\.5'),
    (dict(target_generator=None), r'^model.target_generator: MaskFeat regresses a target'),
])
def test_a_bad_maskfeat_setting_names_its_key(changes, message):
    cfg = model_config(MASKFEAT)
    for key, value in changes.items():
        cfg[key] = value
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg)
