"""LUT's context-view colour augmentation on the device (ContextViewAugment) against
torchvision's functions with the same parameters, its parameter distributions against
torchvision's ColorJitter and the released 3-Augment, and the data preprocessor."""
import itertools
import os.path as osp

import matplotlib
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from mmpretrain.registry import MODELS
from PIL import Image, ImageFilter, ImageOps
from scipy import stats
from torchvision.transforms import ColorJitter
from torchvision.transforms import functional as F_pil

import mim_deepsup  # noqa: F401  (registers the components)
from mim_deepsup.datasets import batch_photometric as bp
from mim_deepsup.datasets.context_view_augment import ContextViewAugment

# luma weights: ours (Pillow's) 0.299 for red against torchvision tensors' 0.2989, so the
# luma differs by at most 1e-4 of a [0, 1] value; everything else is float rounding
LUMA_TOL = 2e-4
TOL = 2e-5


@pytest.fixture(scope='module')
def photo():
    """A real photograph (matplotlib's sample), 4 crops of 96 px as (4, 3, 96, 96) RGB."""
    path = osp.join(matplotlib.get_data_path(), 'sample_data', 'grace_hopper.jpg')
    img = np.asarray(Image.open(path).convert('RGB'))  # (600, 512, 3)
    crops = [img[y:y + 96, x:x + 96] for y, x in ((40, 200), (250, 150), (420, 60), (300, 400))]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


def per_image(fn, x, params):
    return torch.stack([fn(x[i:i + 1], *(float(p[i]) for p in params))[0]
                        for i in range(len(x))])


@pytest.mark.parametrize('ours,theirs,tol', [
    (bp.adjust_brightness, TF.adjust_brightness, TOL),
    (bp.adjust_contrast, TF.adjust_contrast, LUMA_TOL),
    (bp.adjust_saturation, TF.adjust_saturation, LUMA_TOL),
    (bp.adjust_hue, TF.adjust_hue, TOL),
])
def test_each_colour_op_equals_torchvisions_with_the_same_factor(photo, ours, theirs, tol):
    is_hue = ours is bp.adjust_hue
    factors = (torch.tensor([-0.1, -0.03, 0.05, 0.1]) if is_hue
               else torch.tensor([0.6, 0.9, 1.2, 1.4]))
    expected = per_image(theirs, photo, [factors])
    got = ours(photo, factors)
    torch.testing.assert_close(got, expected, atol=tol, rtol=0)
    assert not torch.allclose(got, photo, atol=1e-3)  # it did something


def test_hsv_round_trip_and_grey_pixels():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    x[:, :, 0, 0] = 0.5  # a grey pixel: hue 0, saturation 0
    x[:, :, 0, 1] = 0.0  # black
    hsv = bp.rgb_to_hsv(x)
    assert hsv[:, 0, 0, 0].tolist() == [0, 0] and hsv[:, 1, 0, :2].abs().max() == 0
    torch.testing.assert_close(bp.hsv_to_rgb(hsv), x, atol=1e-6, rtol=0)


def test_grayscale_solarize_blur_equal_torchvisions(photo):
    gray = bp.grayscale(photo).expand_as(photo)
    torch.testing.assert_close(gray, TF.rgb_to_grayscale(photo, num_output_channels=3),
                               atol=LUMA_TOL, rtol=0)
    assert torch.equal(bp.solarize(photo, 128 / 255), TF.solarize(photo, 128 / 255))
    sigma = torch.tensor([0.1, 0.7, 1.3, 2.0])
    blurred = bp.gaussian_blur(photo, sigma, kernel_size=13)
    expected = torch.stack([TF.gaussian_blur(photo[i], [13, 13], [float(s)] * 2)
                            for i, s in enumerate(sigma)])
    torch.testing.assert_close(blurred, expected, atol=TOL, rtol=0)


def tv_colour_ops():
    return (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def test_color_jitter_applies_each_images_order(photo):
    factors = torch.tensor([[1.3, 0.7, 1.2, 0.08], [0.7, 1.4, 0.8, -0.1],
                            [1.1, 1.1, 0.9, 0.0], [0.6, 0.6, 1.2, 0.05]])
    order = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]])
    got = bp.color_jitter(photo, factors, order)
    for i in range(len(photo)):
        img = photo[i]
        for op in order[i].tolist():
            img = tv_colour_ops()[op](img, float(factors[i, op]))
        torch.testing.assert_close(got[i], img, atol=LUMA_TOL, rtol=0)
    # the order matters: the same factors in another order give another image
    swapped = bp.color_jitter(photo, factors, order.flip(1))
    assert (swapped - got).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def fixed_params():
    return dict(jitter=torch.tensor([True, True, False, True]),
                factors=torch.tensor([[1.3, 0.7, 1.2, 0.08], [0.7, 1.4, 0.8, -0.1],
                                      [1.1, 1.1, 0.9, 0.05], [0.6, 0.6, 1.2, 0.05]]),
                order=torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]]),
                choice=torch.tensor([0, 1, 2, 2]), sigma=torch.tensor([1.0, 1.0, 0.4, 1.9]))


def test_the_augment_equals_torchvisions_jitter_then_3_augment(photo):
    augment = ContextViewAugment()
    params = fixed_params()
    got = augment.transform(photo, params)
    for i in range(len(photo)):
        img = photo[i]
        if params['jitter'][i]:
            for op in params['order'][i].tolist():
                img = tv_colour_ops()[op](img, float(params['factors'][i, op]))
        img = [TF.rgb_to_grayscale(img, num_output_channels=3),
               TF.solarize(img, 128 / 255),
               TF.gaussian_blur(img, [13, 13], [float(params['sigma'][i])] * 2)
               ][int(params['choice'][i])]
        torch.testing.assert_close(got[i], img, atol=LUMA_TOL, rtol=0)


def cpu_path(photo, params):
    """The configs' per-image CPU path with the same parameters: torchvision's functions
    on PIL images (uint8 after each), then Pillow's grayscale / solarize / Gaussian blur
    (mmpretrain's GaussianBlur and Solarize, mmcv's grayscale, on uint8)."""
    out = []
    for i in range(len(photo)):
        img = Image.fromarray((photo[i] * 255).round().byte().permute(1, 2, 0).numpy())
        if params['jitter'][i]:
            ops = (F_pil.adjust_brightness, F_pil.adjust_contrast, F_pil.adjust_saturation,
                   F_pil.adjust_hue)
            for op in params['order'][i].tolist():
                img = ops[op](img, float(params['factors'][i, op]))
        choice = int(params['choice'][i])
        if choice == 0:
            img = img.convert('L').convert('RGB')
        elif choice == 1:
            img = ImageOps.solarize(img, 128)
        else:
            img = img.filter(ImageFilter.GaussianBlur(radius=float(params['sigma'][i])))
        out.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float())
    return torch.stack(out)


def test_the_augment_is_the_cpu_path_up_to_its_uint8_rounding_and_pillows_blur(photo):
    """The figures docs/performance.md states: per image, the mean absolute difference
    from the CPU path, in levels of 255."""
    params = fixed_params()
    device = ContextViewAugment().transform(photo, params) * 255
    cpu = cpu_path(photo, params)
    mean = (device - cpu).abs().mean(dim=(1, 2, 3))
    print('mean |device - cpu| per image (levels):', [round(float(m), 2) for m in mean])
    # Pillow truncates to uint8 after each colour op (about 0.5 level each) and rotates
    # the hue in 8-bit HSV (up to 10 levels on a saturated pixel); its Gaussian blur is
    # three box blurs with the edge pixel repeated (torchvision's: a kernel, reflected)
    blur = params['choice'] == 2
    assert mean[~blur].max() < 2.0
    assert mean[blur].max() < 3.0


def test_the_parameters_have_torchvisions_and_3_augments_distributions():
    n = 200_000
    torch.manual_seed(0)
    params = ContextViewAugment().draw(n, torch.device('cpu'))
    assert abs(params['jitter'].float().mean() - 0.8) < 0.005
    jitter = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    ranges = [jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue]
    for k, (low, high) in enumerate(ranges):
        column = params['factors'][:, k].numpy()
        assert low <= column.min() and column.max() <= high
        ks = stats.kstest(column, stats.uniform(low, high - low).cdf)
        assert ks.pvalue > 1e-3, (k, ks)
    # torchvision's own draws: the two samples come from one distribution
    torch.manual_seed(1)
    theirs = torch.tensor([[float(v) for v in ColorJitter.get_params(*ranges)[1:]]
                           for _ in range(5000)])
    for k in range(4):
        assert stats.ks_2samp(params['factors'][:, k].numpy(), theirs[:, k].numpy()).pvalue > 1e-3
    # every one of the 24 orders equally often (torchvision: randperm(4))
    perms = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([perms[tuple(p)] for p in params['order'][:24_000].tolist()],
                         minlength=24)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert stats.chisquare(np.bincount(params['choice'].numpy(), minlength=3)).pvalue > 1e-3
    sigma = params['sigma'].numpy()
    assert sigma.min() >= 0.1 and sigma.max() <= 2.0
    assert stats.kstest(sigma, stats.uniform(0.1, 1.9).cdf).pvalue > 1e-3


def test_a_strength_above_1_draws_from_0_as_torchvision():
    torch.manual_seed(0)
    factors = ContextViewAugment(brightness=1.5).draw(50_000, torch.device('cpu'))['factors']
    low, high = ColorJitter(brightness=1.5).brightness
    assert (low, high) == (0, 2.5)
    assert stats.kstest(factors[:, 0].numpy(), stats.uniform(low, high - low).cdf).pvalue > 1e-3


def preprocessor(**kwargs):
    return MODELS.build(dict(type='LUTDataPreprocessor', mean=[123.675, 116.28, 103.53],
                             std=[58.395, 57.12, 57.375], to_rgb=True, **kwargs))


def test_the_preprocessor_augments_the_context_view_only_and_only_in_training(photo):
    bgr = (photo.flip(1) * 255).round().byte()
    data = dict(inputs=[bgr.clone(), bgr.clone()], data_samples=None)
    plain = preprocessor()(dict(data), training=True)['inputs']
    ours = preprocessor(context_augment=dict())
    torch.manual_seed(3)
    got = ours(dict(data), training=True)['inputs']
    assert torch.equal(got[0], plain[0])
    # view 1: drawn with the same seed, applied to RGB in [0, 1], then normalised
    torch.manual_seed(3)
    params = ours.context_augment.draw(len(photo), torch.device('cpu'))
    rgb = ours.context_augment.transform(bgr.flip(1).float() / 255, params) * 255
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(got[1], (rgb - mean) / std, atol=1e-4, rtol=0)
    assert not torch.allclose(got[1], plain[1], atol=1e-2)
    evaluated = ours(dict(data), training=False)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(evaluated, plain))


def test_the_preprocessor_names_a_pipeline_without_views(photo):
    bgr = (photo.flip(1) * 255).round().byte()
    ours = preprocessor(context_augment=dict())
    with pytest.raises(ValueError, match=r'^data_preprocessor.context_augment: expected the '
                                         r'views of a MultiView pipeline'):
        ours(dict(inputs=bgr, data_samples=None), training=True)
    with pytest.raises(ValueError, match=r'^data_preprocessor.context_view: expected a view '
                                         r'index below the 2 views'):
        preprocessor(context_augment=dict(), context_view=2)(
            dict(inputs=[bgr, bgr], data_samples=None), training=True)


def test_each_rank_augments_with_its_images_rows_of_the_one_process_draw(photo, monkeypatch):
    """Ranks seeded alike must not repeat one another's parameters: rank r of W takes rows
    r, r + W, ... of the global batch's draw, the images mmengine's samplers deal it."""
    import mim_deepsup.datasets.context_view_augment as lut
    augment = ContextViewAugment()
    x = (photo * 255).round().byte()  # (4, 3, 96, 96): the global batch
    torch.manual_seed(5)
    single = augment(x, bgr=False)
    parts = []
    for rank in range(2):  # 2 processes, 2 images each, the same seed on both
        monkeypatch.setattr(lut, 'get_dist_info', lambda rank=rank: (rank, 2))
        torch.manual_seed(5)
        parts.append(augment(x[rank::2], bgr=False))
    torch.testing.assert_close(parts[0], single[0::2], atol=1e-4, rtol=0)
    torch.testing.assert_close(parts[1], single[1::2], atol=1e-4, rtol=0)
    # one image on both ranks: augmented differently
    same = []
    for rank in range(2):
        monkeypatch.setattr(lut, 'get_dist_info', lambda rank=rank: (rank, 2))
        torch.manual_seed(5)
        same.append(augment(x[:2], bgr=False))
    assert (same[0] - same[1]).abs().mean() > 5
