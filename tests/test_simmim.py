"""SimMIM on a Swin: ComposableSimMIM against mmpretrain's SimMIM, DeepMIM's per-stage heads
and DDAE's distance weighting on SimMIM's mask grid, by hand."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mim_deepsup.testing import build_model, config_path, loss_and_gradients, model_config

SIMMIM = config_path('simmim', 'simmim_swin-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_SIMMIM = config_path('deepmim', 'deepmim_simmim_swin-tiny-p4_1xb32-20e_demo.py')
DDAE_SIMMIM = config_path('ddae', 'ddae_simmim_swin-tiny-p4_1xb32-20e_demo.py')


def batch(n=4, seed=1):
    """(n, 3, 64, 64) images and SimMIM masks of 16 px mask patches on the 16 x 16 patch
    grid: 10 of the 4 x 4 mask patches masked in each image."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 64, 64, generator=generator)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        coarse = np.zeros(16, dtype=int)
        coarse[rng.permutation(16)[:10]] = 1
        mask = coarse.reshape(4, 4).repeat(4, 0).repeat(4, 1)  # (16, 16)
        sample = DataSample()
        sample.set_mask(torch.from_numpy(mask))
        samples.append(sample)
    return x, samples


def stage_blocks(backbone, x, mask):
    """The masked pass written out stage by stage: every block's raw output (from 1)."""
    tokens, hw = backbone.patch_embed(x)
    w = mask.flatten(1).unsqueeze(-1).float()
    tokens = tokens * (1 - w) + backbone.mask_token.expand_as(tokens) * w
    outputs, block = {}, 0
    for stage in backbone.stages:
        for layer in stage.blocks:
            tokens = layer(tokens, hw)
            block += 1
            outputs[block] = tokens
        if stage.downsample is not None:
            tokens, hw = stage.downsample(tokens, hw)
    return outputs


def test_without_components_it_is_mmpretrains_simmim_loss_and_gradients():
    ours = build_model(model_config(SIMMIM))
    simmim_cfg = model_config(SIMMIM)
    simmim_cfg.type, simmim_cfg.backbone.type = 'SimMIM', 'SimMIMSwinTransformer'
    simmim_cfg.pop('supervisions')
    theirs = MODELS.build(simmim_cfg)
    assert type(theirs).__name__ == 'SimMIM'
    theirs.load_state_dict(ours.state_dict())
    x, samples = batch()
    # the same drop-path draws
    their_keys, their_loss, their_grads = loss_and_gradients(theirs, x, samples, seed=123)
    keys, loss, grads = loss_and_gradients(ours, x, samples, seed=123)
    assert keys == their_keys == ['loss']
    assert torch.equal(loss, their_loss)
    assert grads.keys() == their_grads.keys() and len(grads) > 30
    for name in grads:
        assert torch.equal(grads[name], their_grads[name]), name


# no drop path (random per step), so that a pass by hand gives the same values
NO_DROP_PATH = dict(backbone=dict(drop_path_rate=0.0))


def test_deepmim_heads_reconstruct_from_each_tapped_block_at_its_stage():
    model = build_model(model_config(DEEPMIM_SIMMIM, **NO_DROP_PATH))
    component = model.supervisions['deepmim']
    assert component.taps == (4, 5, 7)
    x, samples = batch()
    losses = model.loss(x, samples)
    mask = torch.stack([s.mask for s in samples])  # (4, 16, 16)
    pixel_mask = mask.repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1)
    outputs = stage_blocks(model.backbone, x, mask)
    for block, (side, channels, stride) in {4: (8, 64, 8), 5: (4, 128, 16),
                                            7: (2, 256, 32)}.items():
        tokens = F.layer_norm(outputs[block], (channels, ),
                              component.norms[f'l{block}'].weight,
                              component.norms[f'l{block}'].bias)  # (4, side^2, C)
        grid = tokens.transpose(1, 2).reshape(4, channels, side, side)
        conv = component.decoders[f'l{block}'].decoder[0]
        rec = F.pixel_shuffle(F.conv2d(grid, conv.weight, conv.bias), stride)  # (4, 3, 64, 64)
        expected = ((rec - x).abs() * pixel_mask).sum() / pixel_mask.sum() / 3
        torch.testing.assert_close(losses[f'loss_deepmim_l{block}'], expected, atol=1e-6,
                                   rtol=1e-5)
    # the final term is SimMIM's, from the same pass
    final = model.neck(model.backbone.norm3(outputs[8]).transpose(1, 2).reshape(4, 256, 2, 2))
    expected = ((final - x).abs() * pixel_mask).sum() / pixel_mask.sum() / 3
    torch.testing.assert_close(losses['loss_mim'], expected, atol=1e-6, rtol=1e-5)


def test_ddae_weights_simmims_loss_by_distance_on_the_mask_grid():
    model = build_model(model_config(DDAE_SIMMIM, **NO_DROP_PATH))
    x, samples = batch()
    mask = torch.stack([s.mask for s in samples])
    # at progress 0 the exponent is 0: SimMIM's loss exactly
    model.set_progress(0.0)
    plain = MODELS.build(model_config(SIMMIM).head)
    final = model.neck(model.backbone(x, mask)[0])
    assert torch.equal(model.loss(x, samples)['loss'], plain.loss(final, x, mask))
    # at the end g = -1: each 16 px mask patch weighted by 1 / its distance, counted in
    # mask patches on the 4 x 4 grid, to the nearest visible one; mean 1 per image
    model.set_progress(1.0)
    loss = model.loss(x, samples)['loss']
    coarse = mask[:, ::4, ::4].flatten(1).float()  # (4, 16)
    ys, xs = torch.meshgrid(torch.arange(4.), torch.arange(4.), indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], 1)
    nearest = torch.where(coarse[:, None, :] == 0, torch.cdist(coords, coords),
                          torch.inf).amin(-1)  # (4, 16)
    weights = torch.where(coarse.bool(), 1 / nearest, torch.zeros(()))
    weights = weights / (weights.sum(1, keepdim=True) / coarse.sum(1, keepdim=True))
    assert weights[coarse.bool()].std() > 0.1  # not uniform
    pixels = weights.view(4, 1, 4, 4).repeat_interleave(16, 2).repeat_interleave(16, 3)
    pixel_mask = mask.repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1)
    expected = ((final - x).abs() * pixels).sum() / pixel_mask.sum() / 3
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('supervision, message', [
    (dict(type='DeepMIMSupervision'), r'^model.supervisions.deepmim: DeepMIMSupervision '
                                      r'reads taps of visible tokens, .* hold swin tokens'),
    (dict(type='DDAESupervision'), r'^model.supervisions.deepmim: DDAESupervision reads taps '
                                   r'of ViT tokens, .* hold swin tokens'),
    (dict(type='DeepMIMSwinSupervision', taps=[4, 8]), r'taps: expected blocks 1\.\.7'),
])
def test_a_component_that_does_not_fit_a_swin_is_refused(supervision, message):
    with pytest.raises((ValueError, TypeError), match=message):
        MODELS.build(model_config(SIMMIM, supervisions=dict(deepmim=supervision)))


def test_a_mask_patch_that_is_not_whole_patches_is_refused():
    with pytest.raises(ValueError, match=r'^model\.head\.mask_patch_size: expected a multiple of '
                                         r'patch_size=4, got 6'):
        MODELS.build(model_config(DDAE_SIMMIM, head=dict(mask_patch_size=6)))


def test_the_frozen_evaluation_reads_a_swins_patch_tokens_stage_by_stage():
    """The main job's evaluation of a SimMIM encoder: each block's mean patch token at its
    stage's resolution and width, the final features the last stage's normed map, and no
    attention distance (windowed attention)."""
    from mim_deepsup.analysis.encoder import iter_encoded
    from mim_deepsup.analysis.reports import block_features, pooled_features
    from mim_deepsup.main_job.stages import frozen_evaluation
    model = build_model(model_config(SIMMIM, **NO_DROP_PATH)).eval()
    backbone = model.backbone
    x, _ = batch(n=6)
    features = block_features(backbone, x, batch_size=4)  # two batches: 4 + 2
    by_hand = stage_blocks(backbone, x, torch.zeros(6, 16, 16))  # no mask: every patch
    assert [f.shape for f in features['blocks']] == [
        (6, c) for c in (32, 32, 64, 64, 128, 128, 256, 256)]
    for block, tokens in by_hand.items():  # (6, h w, C) at the block's stage
        torch.testing.assert_close(features['blocks'][block - 1], tokens.mean(1))
    with torch.no_grad():
        final = backbone(x, mask=None)[-1]  # (6, 256, 2, 2): the stride-32 map, normed
    torch.testing.assert_close(features['final'], final.mean((2, 3)))
    torch.testing.assert_close(pooled_features(backbone, x), final.mean((2, 3)))
    with pytest.raises(ValueError, match="pool='cls': TappedSimMIMSwin has no cls token"):
        pooled_features(backbone, x, pool='cls')
    with pytest.raises(TypeError, match='windowed attention'):
        next(iter_encoded(backbone, x))
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    result = frozen_evaluation(backbone, (x, labels, ['a', 'b']), (x, labels, ['a', 'b']))
    assert result['aad_blocks'] is None and len(result['knn_blocks']) == 8
    assert result['knn_few_shot'] is None  # fewer than 10 training images per class


def test_simmim_reconstructions_paste_the_decoder_on_the_masked_patches_only():
    from mmengine.config import Config

    from mim_deepsup.analysis.reconstruction import reconstruct_simmim, simmim_mask_generator
    model = build_model(model_config(SIMMIM, **NO_DROP_PATH)).eval()
    generator = simmim_mask_generator(Config.fromfile(SIMMIM))
    assert generator['mask_patch_size'] == 16 and generator['mask_ratio'] == 0.6
    x, _ = batch(n=3)
    np.random.seed(7)
    result = reconstruct_simmim(model, x, generator, seed=2)
    assert np.random.randint(1 << 30) == np.random.RandomState(7).randint(1 << 30)  # kept
    mask = result['mask'].view(3, 16, 16)
    assert result['mask'].sum(1).tolist() == [160.0] * 3  # 10 of 16 mask patches of 4 x 4
    assert torch.equal(mask, mask[:, ::4, ::4].repeat_interleave(4, 1).repeat_interleave(4, 2))
    again = reconstruct_simmim(model, x, generator, seed=2)
    assert torch.equal(again['mask'], result['mask'])  # the seed's masks
    assert not torch.equal(reconstruct_simmim(model, x, generator, seed=3)['mask'],
                           result['mask'])
    with torch.no_grad():
        pred = model.neck(model.backbone(x, mask=mask.long())[0])  # (3, 3, 64, 64)
    pixels = mask.repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1).bool()
    image = result['images']['final']
    assert torch.equal(image[~pixels.expand_as(x)], x[~pixels.expand_as(x)])
    assert torch.equal(image[pixels.expand_as(x)], pred[pixels.expand_as(x)])
    by_hand = torch.stack([((pred[i] - x[i])**2)[pixels[i].expand(3, -1, -1)].mean()
                           for i in range(3)])
    torch.testing.assert_close(result['errors']['final'], by_hand)
