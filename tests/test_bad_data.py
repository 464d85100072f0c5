"""Bad images in the dataset: a clear error naming the file, or skipped and counted
(``RobustLoadImageFromFile``); grey, RGBA and 16-bit images as 8-bit BGR; images smaller
than the crop through the configs' pipelines."""
import io
import logging
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, TRANSFORMS
from PIL import Image

import mim_deepsup  # noqa: F401
from mim_deepsup.testing import ROOT, TINY_MAE

TINY_LUT = osp.join(ROOT, 'configs', 'lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
BACKENDS = ('cv2', 'pillow')


def rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encoded(array, fmt):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def write(path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


# each bad case: (file name, bytes or None for a missing file, what the error says)
BAD = {
    'truncated jpeg': ('cut.jpg', lambda: encoded(rgb(64, 64), 'JPEG')[:1500],
                       'cannot decode image file'),
    'truncated png': ('cut.png', lambda: encoded(rgb(64, 64), 'PNG')[:6000],
                      'cannot decode image file'),
    'not an image': ('notes.jpg', lambda: b'these are notes, not a JPEG\n' * 20,
                     'cannot decode image file'),
    'empty': ('empty.jpg', lambda: b'', 'is empty (0 bytes)'),
    'missing': ('missing.jpg', None, 'cannot read image file'),
}


def bad_file(tmp_path, case) -> str:
    name, content, _ = BAD[case]
    return str(tmp_path / name) if content is None else write(tmp_path / name, content())


def loader(**kwargs):
    return TRANSFORMS.build(dict(type='RobustLoadImageFromFile', **kwargs))


@pytest.fixture
def logged_warnings():
    """The messages of the warnings logged through mmengine's current logger."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('case', list(BAD))
def test_a_bad_file_raises_an_error_naming_it_and_the_switch(tmp_path, case, backend):
    path = bad_file(tmp_path, case)
    with pytest.raises(OSError) as info:
        loader(imdecode_backend=backend)(dict(img_path=path))
    message = str(info.value)
    assert path in message
    assert BAD[case][2] in message
    assert "on_bad_image='skip'" in message


def test_skip_mode_returns_none_logs_the_file_and_counts(tmp_path, logged_warnings):
    load = loader(on_bad_image='skip')
    paths = [bad_file(tmp_path, case) for case in BAD]
    good = write(tmp_path / 'good.png', encoded(rgb(16, 16), 'PNG'))
    for n, path in enumerate(paths, start=1):
        assert load(dict(img_path=path)) is None
        assert load.num_skipped == n
        assert path in logged_warnings[-1]
        assert f'{n} bad image(s) skipped so far by the main process' in logged_warnings[-1]
    assert load(dict(img_path=good))['img'].shape == (16, 16, 3)
    assert load.num_skipped == len(paths) and len(logged_warnings) == len(paths)


def test_the_switch_is_checked_and_silent_skipping_refused():
    with pytest.raises(ValueError, match='on_bad_image'):
        loader(on_bad_image='ignore')
    with pytest.raises(ValueError, match="on_bad_image='skip'"):
        loader(ignore_empty=True)
    assert "on_bad_image='skip'" in repr(loader(on_bad_image='skip'))


@pytest.mark.parametrize('backend', BACKENDS)
def test_grey_rgba_and_16_bit_images_become_8_bit_bgr(tmp_path, backend):
    load = loader(imdecode_backend=backend)
    colour = rgb(12, 20)
    grey = colour[:, :, 0]
    rgba = np.dstack([colour, np.full((12, 20), 7, np.uint8)])
    # random values, and values where clipping (to 255) or wrapping (v % 256) differ from v >> 8
    deep = np.random.default_rng(1).integers(0, 65536, (12, 20), dtype=np.uint16)
    deep[0, :6] = [0, 255, 256, 32767, 32768, 65535]
    out = {}
    for name, array, mode in [('grey', grey, 'L'), ('rgba', rgba, 'RGBA'), ('deep', deep, 'I;16')]:
        assert Image.fromarray(array).mode == mode
        path = write(tmp_path / f'{name}.png', encoded(array, 'PNG'))
        results = load(dict(img_path=path))
        img = results['img']
        assert img.shape == (12, 20, 3) and img.dtype == np.uint8, name
        assert results['img_shape'] == results['ori_shape'] == (12, 20)
        out[name] = img
    for c in range(3):
        np.testing.assert_array_equal(out['grey'][:, :, c], grey)
        np.testing.assert_array_equal(out['deep'][:, :, c], (deep >> 8).astype(np.uint8))
    np.testing.assert_array_equal(out['rgba'], colour[:, :, ::-1])  # BGR, alpha dropped
    assert out['deep'][0, :6, 0].tolist() == [0, 0, 1, 127, 128, 255]


@pytest.mark.parametrize('config', [TINY_MAE, TINY_LUT])
def test_images_smaller_than_the_crop_come_out_at_the_crop_size(tmp_path, config):
    """mmpretrain's RandomResizedCrop (MAE) takes a crop relative to the image, falling
    back to a centre crop when no random one fits (3 x 200 always does), and resizes it up;
    LUT's SimpleResizedCrop resizes the short side up first."""
    pipeline = Compose(Config.fromfile(config).train_dataloader.dataset.pipeline)
    for height, width in [(8, 8), (1, 1), (3, 200)]:
        flat = np.full((height, width, 3), (30, 140, 220), np.uint8)
        path = write(tmp_path / f'{height}x{width}.png', encoded(flat, 'PNG'))
        inputs = pipeline(dict(img_path=path, gt_label=0))['inputs']
        for view in inputs if isinstance(inputs, list) else [inputs]:
            assert tuple(view.shape) == (3, 32, 32)
        if not isinstance(inputs, list):  # MAE: no colour transform, BGR as loaded
            assert {tuple(px) for px in inputs.permute(1, 2, 0).reshape(-1, 3).tolist()} \
                == {(220, 140, 30)}


CONFIGS = [
    'configs/mae/mae_vit-tiny-p4_1xb32-20e_demo.py',
    'configs/lut/lut_vit-tiny-p4_1xb32-20e_demo.py',
    'configs/lut/lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py',
    'configs/beitv2/beitv2_vit-tiny-p4_1xb32-20e_demo.py',
    'configs/_base_/finetune_vit-tiny-p4_1xb32-coslr-5e_demo.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_configs_that_state_their_pipeline_load_with_the_robust_loader(config):
    with open(osp.join(ROOT, config)) as f:
        text = f.read()
    assert "type='LoadImageFromFile'" not in text
    assert "type='RobustLoadImageFromFile'" in text


def folder_dataset(tmp_path, on_bad_image=None):
    """The tiny MAE config's dataset (ImageNet layout, as the demo data) over 6 good images
    and a truncated one."""
    (tmp_path / 'train').mkdir()
    (tmp_path / 'meta').mkdir()
    names = [f'{i}.png' for i in range(6)] + ['bad.jpg']
    for i, name in enumerate(names[:6]):
        write(tmp_path / 'train' / name, encoded(rgb(40, 40, seed=i), 'PNG'))
    bad = write(tmp_path / 'train' / 'bad.jpg', encoded(rgb(40, 40), 'JPEG')[:700])
    (tmp_path / 'meta' / 'train.txt').write_text(''.join(f'{n} 0\n' for n in names))
    cfg = Config.fromfile(TINY_MAE).train_dataloader.dataset
    cfg.data_root = str(tmp_path)
    if on_bad_image:
        cfg.pipeline[0].on_bad_image = on_bad_image
    return DATASETS.build(cfg), bad


def test_a_dataset_with_a_corrupt_file_stops_with_its_name_by_default(tmp_path):
    dataset, bad = folder_dataset(tmp_path)
    assert dataset.get_data_info(6)['img_path'] == bad
    for i in range(6):
        assert dataset[i]['inputs'].shape == (3, 32, 32)
    with pytest.raises(OSError, match=re.escape(f'cannot decode image file {bad}')):
        dataset[6]


def test_a_dataset_with_a_corrupt_file_skips_it_when_switched(tmp_path, logged_warnings):
    dataset, bad = folder_dataset(tmp_path, on_bad_image='skip')
    assert len(dataset) == 7
    np.random.seed(0)  # mmengine draws the replacement index with numpy
    seen = [dataset[i]['data_samples'].img_path for i in range(len(dataset))]
    assert bad not in seen and len(seen) == 7
    assert dataset.pipeline.transforms[0].num_skipped == 1
    assert [m for m in logged_warnings if bad in m and 'skipped so far' in m]


def test_a_dataloader_worker_logs_its_skips_with_its_own_count(tmp_path):
    """In a worker process the warning reaches the logger's handlers (inherited by fork) and
    says which worker counted."""
    dataset, bad = folder_dataset(tmp_path, on_bad_image='skip')
    log_file = tmp_path / 'log.txt'
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.WARNING)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=7, num_workers=1, multiprocessing_context='fork',
            collate_fn=lambda batch: [sample['data_samples'].img_path for sample in batch])
        paths = next(iter(loader))
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert len(paths) == 7 and bad not in paths
    log = log_file.read_text()
    assert bad in log and '1 bad image(s) skipped so far by dataloader worker 0' in log
    # the count lives in the worker: the main process's copy has not changed
    assert dataset.pipeline.transforms[0].num_skipped == 0


# ----------------------------------------------------------------- reduced JPEG decoding
def photo_jpeg(tmp_path, size, name='photo.jpg', exif=None):
    """matplotlib's sample photograph resized to ``size`` (width, height), as a JPEG."""
    import matplotlib
    src = osp.join(matplotlib.get_data_path(), 'sample_data', 'grace_hopper.jpg')
    path = str(tmp_path / name)
    img = Image.open(src).convert('RGB').resize(size, Image.BICUBIC)
    img.save(path, quality=90, **({'exif': exif} if exif is not None else {}))
    return path


def load(path, **kwargs):
    return TRANSFORMS.build(dict(type='RobustLoadImageFromFile', **kwargs))(
        dict(img_path=path))['img']


def test_reduced_decoding_keeps_the_short_side_and_is_libjpegs_scaled_decode(tmp_path):
    import cv2
    resize = TRANSFORMS.build(dict(type='ResizeEdge', scale=224, edge='short',
                                   backend='pillow', interpolation='bicubic'))
    # (size, decoded shape, bound of the mean difference after the resize, levels of 255)
    for size, shape, bound in [((500, 375), (375, 500), 0),      # 375 // 224 = 1: in full
                               ((1000, 750), (375, 500), 2.0),   # 1/2
                               ((1800, 1900), (238, 225), 4.0)]:  # 1/8 keeps 225 >= 224
        path = photo_jpeg(tmp_path, size)
        full, reduced = load(path), load(path, decode_min_side=224)
        assert reduced.shape == (*shape, 3) and reduced.dtype == np.uint8
        if shape == full.shape[:2]:
            assert np.array_equal(reduced, full)  # what is not reduced is exact
            continue
        factor = round(full.shape[0] / reduced.shape[0])
        flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
        assert np.array_equal(reduced, cv2.imread(path, flag))
        # after the pipeline's resize to 224: close to the full decode, not equal
        a = resize(dict(img=full))['img'].astype(float)
        b = resize(dict(img=reduced))['img'].astype(float)
        assert a.shape == b.shape
        print(f'{size}: 1/{factor}, mean |difference| {np.abs(a - b).mean():.2f} levels')
        assert 0 < np.abs(a - b).mean() < bound, np.abs(a - b).mean()


def test_reduced_decoding_turns_the_image_by_its_exif_as_the_full_decode(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = photo_jpeg(tmp_path, (1000, 750), exif=exif.tobytes())
    full, reduced = load(path), load(path, decode_min_side=224)
    assert full.shape == (1000, 750, 3)  # turned upright
    assert reduced.shape == (500, 375, 3)


def test_reduced_decoding_leaves_other_formats_and_checks_its_value(tmp_path):
    path = str(tmp_path / 'big.png')
    Image.fromarray(np.zeros((800, 900, 3), np.uint8)).save(path)
    assert load(path, decode_min_side=224).shape == (800, 900, 3)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r'^RobustLoadImageFromFile\.decode_min_side: '
                                             r'expected None or an int >= 1'):
            load(path, decode_min_side=bad)
    with pytest.raises(ValueError, match=r"decode_min_side: needs color_type='color'"):
        load(path, decode_min_side=224, color_type='grayscale')
