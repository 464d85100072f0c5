"""LUT's view transforms: simple resized crop (SRC) and 3-Augment."""
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

import mim_deepsup  # noqa: F401
from mim_deepsup.testing import reflect_shifts


def image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_src_keeps_the_whole_square_image_up_to_a_reflect_padded_shift():
    src = TRANSFORMS.build(dict(type='SimpleResizedCrop', size=32))
    img = image(64, 64)
    # the short side goes to 32 with Pillow bicubic: the whole image, no scale jitter
    resized = mmcv.imresize(img, (32, 32), interpolation='bicubic', backend='pillow')
    np.random.seed(0)
    shifts = set()
    for _ in range(40):
        out = src(dict(img=img.copy()))['img']
        assert out.shape == (32, 32, 3)
        found = reflect_shifts(out, resized, 4)
        assert len(found) == 1, found  # exactly one shift explains it (random content)
        dy, dx = found[0]
        assert abs(dy) <= 4 and abs(dx) <= 4
        shifts.add(found[0])
    assert len(shifts) > 10  # the crop position is drawn anew each time
    # the padding is a reflection, never black: mmpretrain's RandomCrop pads with zeros
    corner = [s for s in shifts if s[0] < 0 and s[1] < 0]
    assert corner, 'expected some crops reaching into the padding'


def test_src_crops_the_long_side_without_resizing_it_further():
    src = TRANSFORMS.build(dict(type='SimpleResizedCrop', size=32, padding=0))
    img = image(48, 96)  # short side 48 -> 32, long side 96 -> 64
    resized = mmcv.imresize(img, (64, 32), interpolation='bicubic', backend='pillow')
    np.random.seed(1)
    lefts = set()
    for _ in range(20):
        out = src(dict(img=img.copy()))['img']
        found = reflect_shifts(out, resized, 0)
        assert len(found) == 1 and found[0][0] == 0
        lefts.add(found[0][1])
    assert len(lefts) > 5 and max(lefts) <= 32


@pytest.mark.parametrize('cfg, key', [
    (dict(size=0), 'SimpleResizedCrop.size'),
    (dict(size=32, padding=-1), 'SimpleResizedCrop.padding'),
    (dict(size=32, padding_mode='wrap'), 'SimpleResizedCrop.padding_mode'),
])
def test_src_bad_arguments_name_the_key(cfg, key):
    with pytest.raises(ValueError, match=key):
        TRANSFORMS.build(dict(type='SimpleResizedCrop', **cfg))


def test_three_augment_applies_exactly_one_of_its_three():
    aug = TRANSFORMS.build(dict(type='ThreeAugment'))
    img = image(32, 32, seed=3)
    solarized = mmcv.solarize(img, thr=128)
    calls = []
    for index, pipeline in enumerate(aug.transforms):
        def spy(results, _pipeline=pipeline, _index=index):
            calls.append(_index)
            return _pipeline(results)
        aug.transforms[index] = spy
    np.random.seed(0)
    kinds = []
    for step in range(60):
        out = aug(dict(img=img.copy()))['img']
        assert len(calls) == step + 1  # one transform per call
        gray = np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1],
                                                                          out[..., 2])
        solar = np.array_equal(out, solarized)
        blurred = not gray and not solar and not np.array_equal(out, img)
        assert gray + solar + blurred == 1
        kind = ['gray', 'solarize', 'blur'][calls[-1]]
        assert {'gray': gray, 'solarize': solar, 'blur': blurred}[kind]
        kinds.append(kind)
    assert {k: kinds.count(k) > 10 for k in ('gray', 'solarize', 'blur')} == {
        'gray': True, 'solarize': True, 'blur': True}


def test_three_augment_grayscale_is_luma_of_the_bgr_image():
    aug = TRANSFORMS.build(dict(type='ThreeAugment'))
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 2] = 200  # pure red in BGR order
    out = aug.transforms[0](dict(img=img.copy()))['img']
    assert out.shape == (2, 2, 3) and (out == int(0.299 * 200)).all()


def test_three_augment_blur_radius_is_uniform_in_the_range():
    aug = TRANSFORMS.build(dict(type='ThreeAugment', blur_radius=(0.1, 2.0)))
    blur = aug.transforms[2].transforms[0]
    np.random.seed(0)
    radii = np.array([blur.random_magnitude() for _ in range(2000)])
    assert radii.min() >= 0.1 and radii.max() <= 2.0
    assert abs(radii.mean() - 1.05) < 0.05
    with pytest.raises(ValueError, match='ThreeAugment.blur_radius'):
        TRANSFORMS.build(dict(type='ThreeAugment', blur_radius=(2.0, 0.1)))


@pytest.mark.parametrize('config', ['lut_vit-tiny-p4_1xb32-20e_demo.py',
                                    'lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'])
def test_one_shared_resize_gives_the_views_of_one_resize_per_view(config, tmp_path):
    """The LUT configs resize once before MultiView; SimpleResizedCrop then skips its own
    resize. Given the same random draws, the views are those of a resize in each view."""
    import random

    import torch
    from mmengine.config import Config
    from mmengine.dataset import Compose

    from mim_deepsup.benchmarking.data import make_jpegs
    from mim_deepsup.testing import ROOT
    steps = Config.fromfile(osp.join(ROOT, 'configs', 'lut', config)).train_dataloader \
        .dataset.pipeline
    assert steps[1]['type'] == 'ResizeEdge'
    shared, per_view = Compose(steps[:-1]), Compose(steps[:1] + steps[2:-1])
    for i, path in enumerate(make_jpegs(str(tmp_path), 3)):
        outputs = []
        for pipeline in (shared, per_view):
            np.random.seed(i)
            random.seed(i)
            torch.manual_seed(i)
            outputs.append(pipeline(dict(img_path=path))['img'])
        assert len(outputs[0]) == 2
        for a, b in zip(*outputs):
            assert a.shape[:2] == (steps[1]['scale'],) * 2 and np.array_equal(a, b)


def test_context_view_colour_is_the_released_chain_of_transforms():
    """ContextViewColour runs ColorJitter (p 0.8, on PIL) then ThreeAugment: the same
    pixels as those four transforms written out, under the same random draws."""
    import random

    import torch
    from mmcv.transforms import Compose
    chain = Compose([TRANSFORMS.build(t) for t in [
        dict(type='NumpyToPIL', to_rgb=True),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='torchvision/ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2,
                 hue=0.1)]),
        dict(type='PILToNumpy', to_bgr=True),
        dict(type='ThreeAugment')]])
    ours = TRANSFORMS.build(dict(type='ContextViewColour'))
    img = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    changed = 0
    for seed in range(12):
        outs = []
        for transform in (chain, ours):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            outs.append(transform(dict(img=img.copy()))['img'])
        assert np.array_equal(outs[0], outs[1]), seed
        changed += not np.array_equal(outs[1], img)
    assert changed == 12  # 3-Augment always changes the image
