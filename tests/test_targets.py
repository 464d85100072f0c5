"""Reconstruction targets by config: HOG (MaskFeat's), a frozen ViT's features in timm's or
mmpretrain's names (DINO), PixMIM's low-frequency pixels; each against mmpretrain's or the
released formula, and each wired into MAE, DeepMIM and DDAE as the configs state it."""

import pytest
import torch
from mmpretrain.models.selfsup.maskfeat import HOGGenerator
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mim_deepsup.testing import build_model, config_path, manual_masked_pass, model_config

DEEPMIM_HOG = config_path('deepmim', 'deepmim-hog_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_HOG = config_path('ddae', 'ddae-hog_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_DINO = config_path('deepmim', 'deepmim-dino_vit-tiny-p4_1xb32-20e_demo.py')
PIXMIM = config_path('pixmim', 'pixmim_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_PIXMIM = config_path('deepmim', 'deepmim_pixmim_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_PIXMIM = config_path('ddae', 'ddae_pixmim_vit-tiny-p4_1xb32-20e_demo.py')
LUT = config_path('lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
LUT_PIXMIM = config_path('lut', 'lut_pixmim_vit-tiny-p4_1xb32-20e_demo.py')


def images(batch=4, size=32, seed=1):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def samples(n=4):
    return [DataSample() for _ in range(n)]


def masked_mse(pred, target, mask):
    return (((pred - target)**2).mean(-1) * mask).sum() / mask.sum()


def released_low_freq(x, radius):
    """PixMIM's released target written as it is: the disc built pixel by pixel, ImageNet's
    [0, 1] normalisation, ``|ifft2(fftshift(fft2(x)) * disc)|``."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h, w = x.shape[-2:]
    disc = torch.ones(3, h, w)
    for i in range(h):
        for j in range(w):
            if (i - (h - 1) / 2)**2 + (j - (w - 1) / 2)**2 > radius**2:
                disc[:, i, j] = 0
    x = x * std + mean
    low = torch.fft.ifft2(torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * disc).abs()
    return (low - mean) / std


# HOG

def test_patch_hog_is_mmpretrains_hog_for_vit_b16_at_224_px():
    x = images(batch=2, size=224)
    ours = MODELS.build(dict(type='PatchHOGTarget', patch_size=16, nbins=9, pool=8,
                             gaussian_window=16))
    theirs = HOGGenerator(nbins=9, pool=8, gaussian_window=16)
    expected = theirs(x)
    assert expected.shape == (2, 196, 108) and ours.out_channels == 108
    assert torch.equal(ours(x), expected)


def test_patch_hog_holds_each_patchs_own_cells_at_any_grid():
    """32 px, patch 4, cells of 2 px: patch (i, j) holds cells (2i..2i+1, 2j..2j+1) of
    every channel and bin, where mmpretrain's grouping assumes a 14 x 14 grid."""
    hog = MODELS.build(dict(type='PatchHOGTarget', patch_size=4, nbins=9, pool=2,
                            gaussian_window=4))
    x = images(batch=2)
    out = hog(x)  # (2, 64, 108)
    cells = hog.out.flatten(1, 2)  # (2, 27, 16, 16): channel x bin, cell rows, cell cols
    assert out.shape == (2, 64, 108)
    for i, j in ((0, 0), (3, 5), (7, 7)):
        expected = cells[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(2, 108)
        assert torch.equal(out[:, i * 8 + j], expected), (i, j)
    # each cell's 9 bins of a channel are L2-normalised, as mmpretrain's
    norms = hog.out.norm(dim=2)
    assert torch.allclose(norms[norms > 0], torch.ones(()), atol=1e-5)


def test_deepmim_with_hog_regresses_the_hog_of_the_images_with_every_decoder():
    model = build_model(model_config(DEEPMIM_HOG))
    x = images()
    torch.manual_seed(4)
    losses = model.loss(x, samples())
    target = model.target_generator(x)  # (4, 64, 108)
    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=4)
    decoders = model.supervisions['deepmim'].decoders.decoders
    for block in (3, 4, 5):
        pred = decoders[f'l{block}'](outputs[block], ids_restore)
        assert torch.allclose(losses[f'loss_deepmim_l{block}'],
                              masked_mse(pred, target, mask), atol=1e-6), block
    pred = model.neck(model.backbone.norm1(outputs[6]), ids_restore)
    assert torch.allclose(losses['loss_mim'], masked_mse(pred, target, mask), atol=1e-6)


def test_ddae_with_hog_weights_the_hog_error_by_distance():
    """At the end of training DDAE's final-decoder exponent is g = -1, so the loss is the
    masked patches' HOG error weighted by 1 / (distance to the nearest visible patch),
    the weights of each image averaging 1 over its masked patches (docs/methods.md)."""
    model = build_model(model_config(DDAE_HOG))
    model.set_progress(1.0)
    x = images()
    torch.manual_seed(4)
    losses = model.loss(x, samples())
    target = model.target_generator(x)
    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=4)
    pred = model.neck(model.backbone.norm1(outputs[6]), ids_restore)
    assert model.head.loss_module.schedule(1.0, 1.0) == -1
    # distances on the 8 x 8 grid by brute force: masked patch -> nearest visible one
    ys, xs = torch.meshgrid(torch.arange(8.), torch.arange(8.), indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], 1)  # (64, 2)
    pairwise = torch.cdist(coords, coords)  # (64, 64)
    visible = mask == 0  # (4, 64)
    nearest = torch.where(visible[:, None, :], pairwise, torch.inf).amin(-1)  # (4, 64)
    weights = torch.where(mask.bool(), 1 / nearest, torch.zeros(()))
    weights = weights / (weights.sum(1, keepdim=True) / mask.sum(1, keepdim=True))
    err = ((pred - target)**2).mean(-1)  # (4, 64)
    expected = (err * weights).sum() / mask.sum()
    torch.testing.assert_close(losses['loss_mim'], expected, rtol=1e-5, atol=0)
    assert weights[mask.bool()].std() > 0.1  # not MAE's uniform weights


# a frozen ViT's features (DINO)

def timm_vit():
    """A timm ViT shaped like the tiny DINO config's frozen network, with its own init."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(7)
    vit = VisionTransformer(img_size=32, patch_size=4, embed_dim=48, depth=2, num_heads=4,
                            mlp_ratio=2, qkv_bias=True, num_classes=0).eval()
    with torch.no_grad():  # non-trivial norms and biases
        for name, p in vit.named_parameters():
            if name.endswith('bias') or 'norm' in name:
                p.add_(torch.randn_like(p) * 0.1)
    return vit


@pytest.mark.parametrize('layout', ['timm', 'timm in module.', 'mmpretrain'])
def test_frozen_features_load_timm_and_mmpretrain_names(layout, tmp_path):
    vit = timm_vit()
    x = images()
    expected = vit.forward_features(x)[:, 1:]  # (4, 64, 48): final-normed patch tokens
    state = vit.state_dict()
    if layout == 'timm in module.':
        state = {f'module.{k}': v for k, v in state.items()}
    if layout == 'mmpretrain':  # the same weights after mmpretrain's renaming
        generator = MODELS.build(dict(model_config(DEEPMIM_DINO).target_generator))
        torch.save(vit.state_dict(), tmp_path / 'timm.pth')
        generator.checkpoint, generator.key = str(tmp_path / 'timm.pth'), 'checkpoint'
        generator.random_weights = False
        generator.init_weights()
        state = {'state_dict': generator.state_dict()}  # backbone.* keys
    torch.save(state, tmp_path / 'dino.pth')
    cfg = dict(model_config(DEEPMIM_DINO).target_generator, random_weights=False,
               checkpoint=str(tmp_path / 'dino.pth'))
    generator = MODELS.build(cfg)
    generator.init_weights()
    assert torch.allclose(generator(x), expected, atol=1e-5)


def test_a_timm_checkpoint_of_another_vit_is_refused_naming_the_key(tmp_path):
    state = {k: v for k, v in timm_vit().state_dict().items() if not k.startswith('blocks.1.')}
    torch.save(state, tmp_path / 'dino.pth')
    cfg = dict(model_config(DEEPMIM_DINO).target_generator, random_weights=False,
               checkpoint=str(tmp_path / 'dino.pth'))
    generator = MODELS.build(cfg)
    with pytest.raises(ValueError, match=r"^model.target_generator.checkpoint: .*dino\.pth' "
                                         r'lacks 12 weights of FrozenFeatureTarget'):
        generator.init_weights()


# PixMIM's low-frequency pixels

def test_low_freq_target_is_pixmims_released_formula():
    x = images(batch=2, size=12)[..., :10]  # (2, 3, 12, 10): odd and even sides differ
    ours = MODELS.build(dict(type='LowFreqPixelTarget', radius=3, img_size=(12, 10)))
    torch.testing.assert_close(ours(x), released_low_freq(x, 3), atol=1e-5, rtol=0)


def test_low_freq_target_keeps_what_its_radius_keeps():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) - mean) / std
    # a disc holding every frequency: the images themselves (the modulus keeps [0, 1]
    # values as they are)
    everything = MODELS.build(dict(type='LowFreqPixelTarget', radius=12, img_size=16))
    torch.testing.assert_close(everything(x), x, atol=1e-5, rtol=0)
    # a checkerboard is the highest frequency: any disc of radius < 8 removes all of it
    board = (torch.arange(16)[:, None] + torch.arange(16)).remainder(2).float()
    raw = 0.5 + 0.25 * board.expand(1, 3, 16, 16)  # [0, 1] values
    low = MODELS.build(dict(type='LowFreqPixelTarget', radius=4, img_size=16))
    out = low((raw - mean) / std) * std + mean
    torch.testing.assert_close(out, torch.full_like(out, 0.625), atol=1e-5, rtol=0)


def test_pixmim_is_mae_regressing_the_low_frequency_image_loss_and_gradients():
    """With no technique, ComposableMAE with the low-frequency target computes PixMIM's
    released loss: mmpretrain's MAE (backbone, neck, head) with ``head.loss(pred, x_low,
    mask)``, x_low from the released formula; the same loss and gradients."""
    ours = build_model(model_config(PIXMIM))
    mae_cfg = model_config(PIXMIM)
    mae_cfg.type, mae_cfg.backbone.type = 'MAE', 'MAEViT'
    for key in ('supervisions', 'target_generator'):
        mae_cfg.pop(key)
    mae = MODELS.build(mae_cfg)
    mae.load_state_dict(ours.state_dict())
    x = images()

    def pixmim_loss(model):
        latent, mask, ids_restore = model.backbone(x)
        pred = model.neck(latent, ids_restore)
        return model.head.loss(pred, released_low_freq(x, 6), mask)

    results = []
    for model, loss_fn in ((mae, pixmim_loss), (ours, lambda m: m.loss(x, samples())['loss'])):
        model.train()
        torch.manual_seed(123)
        loss = loss_fn(model)
        model.zero_grad()
        loss.backward()
        results.append((loss, {n: p.grad for n, p in model.named_parameters()
                               if p.grad is not None}))
    (theirs, their_grads), (loss, grads) = results
    torch.testing.assert_close(loss, theirs, atol=1e-6, rtol=1e-6)
    assert grads.keys() == their_grads.keys() and len(grads) > 20
    for name in grads:
        torch.testing.assert_close(grads[name], their_grads[name], atol=1e-6, rtol=1e-4)
    # the target differs from MAE's pixels: the low-pass changed what is regressed
    plain = ours.head.loss(torch.zeros(4, 64, 48), x, torch.ones(4, 64))
    assert not torch.allclose(plain, ours.head.loss(torch.zeros(4, 64, 48),
                                                    released_low_freq(x, 6), torch.ones(4, 64)))


@pytest.mark.parametrize('path', [DEEPMIM_PIXMIM, DDAE_PIXMIM])
def test_every_pixel_decoder_regresses_the_low_frequency_patches(path):
    """DeepMIM's auxiliary decoders and DDAE's weighted loss (at progress 0, where its
    weights are the mask) take the final decoder's target: the norm-pix patches of the
    low-frequency image, not of the input."""
    model = build_model(model_config(path))
    model.set_progress(0.0)
    x = images()
    torch.manual_seed(4)
    losses = model.loss(x, samples())
    target = model.head.construct_target(released_low_freq(x, 6))  # (4, 64, 48)
    mask, ids_restore, outputs = manual_masked_pass(model.backbone, x, seed=4)
    pred = model.neck(model.backbone.norm1(outputs[6]), ids_restore)
    expected = {'loss_mim': masked_mse(pred, target, mask)}
    if 'deepmim' in model.supervisions:
        decoders = model.supervisions['deepmim'].decoders.decoders
        expected.update({f'loss_deepmim_l{b}': masked_mse(
            decoders[f'l{b}'](outputs[b], ids_restore), target, mask) for b in (3, 4, 5)})
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, atol=1e-5, rtol=1e-5)
    # the input's patches would give another loss, far outside the tolerance above
    other = masked_mse(pred, model.head.construct_target(x), mask)
    assert (losses['loss_mim'] - other).abs() > 1e-3


def test_lut_on_pixmim_regresses_the_mim_views_low_frequency_image():
    """LUT with PixMIM's target: the final decoder regresses the low-frequency norm-pix
    patches of the MIM view (view 1); LUT's own term is the plain LUT config's, for the
    same weights and masks."""
    ours, plain = build_model(model_config(LUT_PIXMIM)), build_model(model_config(LUT))
    assert not plain.load_state_dict(ours.state_dict(), strict=False).missing_keys
    ours.train()
    plain.train()
    views = [images(seed=1), images(seed=2)]
    torch.manual_seed(5)
    losses = ours.loss(views, samples())
    torch.manual_seed(5)
    plain_losses = plain.loss(views, samples())
    torch.testing.assert_close(losses['loss_lut'], plain_losses['loss_lut'])
    torch.manual_seed(5)
    state = ours.compute_state(views)  # the same masks as the loss's pass
    torch.testing.assert_close(state.pixels, released_low_freq(views[0], 6), atol=1e-5,
                               rtol=1e-5)
    pred = ours.neck(state.latent, state.ids_restore)
    expected = ours.head.loss(pred, released_low_freq(views[0], 6), state.mask)
    torch.testing.assert_close(losses['loss_mim'], expected, atol=1e-6, rtol=1e-5)
    assert (losses['loss_mim'] - plain_losses['loss_mim']).abs() > 1e-3
