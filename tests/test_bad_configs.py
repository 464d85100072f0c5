"""Bad configurations fail when the model (or transform) is built, naming the key.

One table: each row changes one key of a tiny config (or of a component's config) to a
value of the wrong type, out of range, or naming a missing file, and gives the error the
build must raise and a regular expression its message must match: the key as the user
writes it, what was expected and what was given.
"""
import copy
import functools
import os.path as osp

import pytest
from conftest import ROOT
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS


def config(*parts):
    return osp.join(ROOT, 'configs', *parts)


MAE = config('mae', 'mae_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM = config('deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py')
DDAE = config('ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py')
LUT = config('lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_BEIT = config('deepmim', 'deepmim_beitv2_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_BEIT = config('ddae', 'ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py')
FINETUNE = config('lut', 'benchmarks', 'lut_vit-tiny-p4_1xb32-coslr-5e_demo.py')

MISSING = '/nonexistent/dir'


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(path)


def load(path):
    """A fresh copy of the parsed config (each file is parsed once)."""
    return copy.deepcopy(_parsed(path))


def tiny_mae_model():
    return load(MAE).model.to_dict()


# a frozen MAE for DeepMIM's hybrid target, from the tiny MAE config
FROZEN_MAE = dict(type='DeepMIMHybridTarget', model=tiny_mae_model, random_weights=True)
# a CLIP-like frozen ViT at the tiny student's grid, as the target generator
FROZEN_VIT = dict(
    type='FrozenFeatureTarget',
    backbone=dict(type='VisionTransformer',
                  arch=dict(embed_dims=48, num_layers=2, num_heads=4, feedforward_channels=96),
                  img_size=32, patch_size=4, out_type='raw'),
    random_weights=True)
SRC = dict(type='SimpleResizedCrop', size=32)
THREE_AUGMENT = dict(type='ThreeAugment')


def resolve(value):
    """Values that are expensive to make (a parsed config) are made when the row runs."""
    if callable(value):
        return value()
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def row(id, source, key, value, error, message, stage='build'):
    """``source``: a config file (``key`` a dotted key in it; ``cfg.model`` is built) or a
    component config (``key`` one of its arguments). ``stage='init'``: the error comes
    when the weights are initialised (``init_weights``), still before any training step."""
    return pytest.param(source, key, value, error, message, stage, id=id)


ROWS = [
    # ComposableMAE
    row('ComposableMAE mask_ratio out of range', MAE, 'model.backbone.mask_ratio', 1.5,
        ValueError, r'^model\.backbone\.mask_ratio: expected a number in \(0, 1\), got 1\.5'),
    row('ComposableMAE mask_ratio a string', MAE, 'model.backbone.mask_ratio', '0.75',
        TypeError, r"^model\.backbone\.mask_ratio: expected a number in \(0, 1\), got '0\.75'"),
    row('ComposableMAE mask_ratio too low for 2 views', LUT, 'model.backbone.mask_ratio', 0.4,
        ValueError, r'^model\.backbone\.mask_ratio is 0\.4.*at least 0\.5'),
    row('ComposableMAE batch_views not a bool', LUT, 'model.batch_views', 'no',
        TypeError, r"^model\.batch_views: expected True or False, got 'no'"),
    row('ComposableMAE out_indices with a teacher', LUT, 'model.backbone.out_indices', [2, 5],
        ValueError, r'^model\.backbone\.out_indices must be \[-1\]'),
    row('ComposableMAE head loss grid not the backbone\'s', DDAE, 'model.head.loss.grid',
        (14, 14), ValueError,
        r"^model\.head\.loss\.grid: expected the backbone's patch grid \(8, 8\).*got \(14, 14\)"),
    row('ComposableMAE supervisions a list', MAE, 'model.supervisions', ['DeepMIMSupervision'],
        TypeError, r'^model\.supervisions must be a dict of name -> component config, got list'),
    row('ComposableMAE supervision a string', MAE, 'model.supervisions.aux',
        'DeepMIMSupervision', TypeError,
        r"^model\.supervisions\.aux: expected a component config with a 'type'.*"
        r"got 'DeepMIMSupervision'"),
    row('ComposableMAE supervision without type', MAE, 'model.supervisions.aux',
        dict(taps=[2, 4]), TypeError,
        r"^model\.supervisions\.aux: expected a component config with a 'type'"),
    row('ComposableMAE supervision of unknown type', MAE, 'model.supervisions.aux',
        dict(type='DeepSupervisoin'), KeyError,
        r'model\.supervisions\.aux: .*DeepSupervisoin'),
    row('ComposableMAE supervision named loss', MAE, 'model.supervisions.my_loss',
        dict(type='DeepMIMSupervision'), ValueError,
        r'^model\.supervisions\.my_loss: a component name may not contain "loss"'),
    row('ComposableMAE head of unknown type', MAE, 'model.head.type', 'MAEPretrainHeed',
        KeyError, r'model\.head: MAEPretrainHeed is not in the .*registry'),
    row('ComposableMAE head loss of unknown type', DDAE, 'model.head.loss.type',
        'DistanceWeightedPixelLos', KeyError,
        r'model\.head\.loss: DistanceWeightedPixelLos is not in the .*registry'),
    # EMATeacher (model.teacher), built by the algorithm
    row('EMATeacher not a dict', LUT, 'model.teacher', 'EMATeacher', TypeError,
        r"^model\.teacher: expected a dict such as dict\(type='EMATeacher', \.\.\.\), "
        r"got 'EMATeacher'"),
    row('EMATeacher type misspelt', LUT, 'model.teacher.type', 'EMATeachr', KeyError,
        r'model\.teacher: EMATeachr is not in the .*registry'),
    row('EMATeacher base_momentum a string', LUT, 'model.teacher.base_momentum', '0.99',
        TypeError, r"^model\.teacher\.base_momentum: expected a number in \[0, 1\], "
                   r"got '0\.99'"),
    row('EMATeacher end_momentum out of range', LUT, 'model.teacher.end_momentum', 2,
        ValueError, r'^model\.teacher\.end_momentum: expected a number in \[0, 1\], got 2'),
    row('EMATeacher sources a string', LUT, 'model.teacher.sources', 'backbone', TypeError,
        r"^model\.teacher\.sources: expected a list of attribute paths.*got 'backbone'"),
    row('EMATeacher sources not in the model', LUT, 'model.teacher.sources', ['encoder'],
        ValueError, r"teacher\.sources: the student has no module 'encoder'"),
    row('EMATeacher average_buffers not a bool', LUT, 'model.teacher.average_buffers', 'yes',
        TypeError, r"^model\.teacher\.average_buffers: expected True or False, got 'yes'"),
    row('EMATeacher momentum on BEiT out of range', DDAE_BEIT, 'model.teacher',
        dict(type='EMATeacher', base_momentum=-1), ValueError,
        r'^model\.teacher\.base_momentum: expected a number in \[0, 1\], got -1'),
    # LUTSupervision (LUT)
    row('LUTSupervision weight negative', LUT, 'model.supervisions.lut.weight', -1,
        ValueError, r'^model\.supervisions\.lut: weight: expected a number >= 0, got -1'),
    row('LUTSupervision weight a string', LUT, 'model.supervisions.lut.weight', 'x',
        TypeError, r"^model\.supervisions\.lut: weight: expected a number >= 0, got 'x'"),
    row('LUTSupervision projector not a dict', LUT,
        'model.supervisions.lut.projector', 3, TypeError,
        r"^model\.supervisions\.lut: projector: expected a dict of NonLinearNeck arguments or "
        r"'identity', got 3"),
    row('LUTSupervision projector hid_channels a string', LUT,
        'model.supervisions.lut.projector.hid_channels', 'x', TypeError,
        r"^model\.supervisions\.lut: projector\.hid_channels: expected an int >= 1, got 'x'"),
    row('LUTSupervision predictor out_channels zero', LUT,
        'model.supervisions.lut.predictor.out_channels', 0, ValueError,
        r'^model\.supervisions\.lut: predictor\.out_channels: expected an int >= 1, got 0'),
    row('LUTSupervision projector num_layers a float', LUT,
        'model.supervisions.lut.projector.num_layers', 2.0, TypeError,
        r'^model\.supervisions\.lut: projector\.num_layers: expected an int >= 1, got 2\.0'),
    # DeepMIMSupervision (DeepMIM on MAE)
    row('DeepMIMSupervision tap beyond the encoder', DEEPMIM, 'model.supervisions.deepmim.taps',
        [3, 6], ValueError,
        r'^model\.supervisions\.deepmim: taps: block 6 is out of range; expected blocks 1\.\.5'),
    row('DeepMIMSupervision taps an int', DEEPMIM, 'model.supervisions.deepmim.taps', 4,
        TypeError, r'^model\.supervisions\.deepmim: taps: expected a list of blocks .*got 4'),
    row('DeepMIMSupervision tap not an int', DEEPMIM, 'model.supervisions.deepmim.taps',
        [2.5, 4], TypeError,
        r'^model\.supervisions\.deepmim: taps\[0\]: expected an int, got 2\.5'),
    row('DeepMIMSupervision weight negative', DEEPMIM, 'model.supervisions.deepmim.weights',
        [1.0, -1.0, 1.0], ValueError,
        r'^model\.supervisions\.deepmim: weights\[1\]: expected a number >= 0, got -1\.0'),
    row('DeepMIMSupervision weights one short', DEEPMIM, 'model.supervisions.deepmim.weights',
        [1.0, 1.0], ValueError,
        r'^model\.supervisions\.deepmim: weights: expected 3 values, one per tap \[3, 4, 5\]'),
    row('DeepMIMSupervision decoder an int', DEEPMIM, 'model.supervisions.deepmim.decoder', 7,
        ValueError, r"^model\.supervisions\.deepmim: decoder: expected a dict of "
                    r"DeepMIMDecoders arguments or 'light', got 7"),
    row('DeepMIMSupervision decoder heads do not divide the width', DEEPMIM,
        'model.supervisions.deepmim.decoder.decoder_num_heads', 5, ValueError,
        r'^model\.supervisions\.deepmim: decoder: decoder_num_heads: expected a divisor of '
        r'decoder_embed_dim \(64\), got 5'),
    row('DeepMIMSupervision decoder width a string', DEEPMIM,
        'model.supervisions.deepmim.decoder.decoder_embed_dim', '64', TypeError,
        r"^model\.supervisions\.deepmim: decoder: decoder_embed_dim: expected an int >= 1, "
        r"got '64'"),
    row('DeepMIMSupervision head a string', DEEPMIM, 'model.supervisions.deepmim.head',
        'MAEPretrainHead', TypeError,
        r"^model\.supervisions\.deepmim: head: expected a dict .*got 'MAEPretrainHead'"),
    row('DeepMIMSupervision hybrid a path', DEEPMIM, 'model.supervisions.deepmim.hybrid',
        'frozen_mae.pth', TypeError,
        r"^model\.supervisions\.deepmim: hybrid: expected a dict of DeepMIMHybridTarget "
        r"arguments, got 'frozen_mae\.pth'"),
    row('DeepMIMSupervision hybrid alpha out of range', DEEPMIM, 'model.supervisions.deepmim',
        dict(hybrid=FROZEN_MAE, hybrid_alphas=[0.5, 2.0, 0.5]), ValueError,
        r'^model\.supervisions\.deepmim: hybrid_alphas\[1\]: expected a number in \[0, 1\], '
        r'got 2\.0'),
    row('DeepMIMSupervision hybrid alphas without hybrid', DEEPMIM,
        'model.supervisions.deepmim.hybrid_alphas', [0.5, 0.5, 0.5], ValueError,
        r'^model\.supervisions\.deepmim: hybrid_alphas: given without hybrid'),
    # DeepMIMHybridTarget (DeepMIM's hybrid target)
    row('DeepMIMHybridTarget checkpoint missing', DEEPMIM,
        'model.supervisions.deepmim.hybrid',
        dict(type='DeepMIMHybridTarget', model=tiny_mae_model,
             checkpoint=f'{MISSING}/mae.pth'), FileNotFoundError,
        r"^model\.supervisions\.deepmim: hybrid\.checkpoint: no such checkpoint file "
        r"'/nonexistent/dir/mae\.pth'"),
    row('DeepMIMHybridTarget checkpoint not given', DEEPMIM,
        'model.supervisions.deepmim.hybrid',
        dict(type='DeepMIMHybridTarget', model=tiny_mae_model), ValueError,
        r'^model\.supervisions\.deepmim: hybrid\.checkpoint: required'),
    row('DeepMIMHybridTarget model config file missing', DEEPMIM,
        'model.supervisions.deepmim.hybrid', dict(FROZEN_MAE, model=f'{MISSING}/mae.py'),
        FileNotFoundError,
        r"^model\.supervisions\.deepmim: hybrid\.model: no such config file "
        r"'/nonexistent/dir/mae\.py'"),
    row('DeepMIMHybridTarget model without a decoder', DEEPMIM,
        'model.supervisions.deepmim.hybrid',
        dict(FROZEN_MAE, model=dict(backbone=dict(type='MAEViT'))), ValueError,
        r"^model\.supervisions\.deepmim: hybrid\.model: expected an MAE model config with a "
        r"backbone and a neck.*got keys \['backbone'\]"),
    # FrozenFeatureTarget (model.target_generator)
    row('FrozenFeatureTarget checkpoint missing', MAE, 'model.target_generator',
        dict(FROZEN_VIT, random_weights=False, checkpoint=f'{MISSING}/clip.pth'),
        FileNotFoundError,
        r"^model\.target_generator\.checkpoint: no such checkpoint file "
        r"'/nonexistent/dir/clip\.pth'"),
    row('FrozenFeatureTarget std zero', MAE, 'model.target_generator',
        dict(FROZEN_VIT, std=[58.395, 0, 57.375]), ValueError,
        r'^model\.target_generator\.std\[1\]: expected a number > 0, got 0'),
    row('FrozenFeatureTarget mean of 1 channel', MAE, 'model.target_generator',
        dict(FROZEN_VIT, mean=[127.5]), ValueError,
        r'^model\.target_generator\.mean: expected a list of 3 numbers, got 1'),
    # DDAESupervision (DDAE on MAE)
    row('DDAESupervision tap beyond the encoder', DDAE, 'model.supervisions.ddae.taps',
        [2, 6], ValueError, r'^model\.supervisions\.ddae: taps: block 6 is out of range'),
    row('DDAESupervision tap not an int', DDAE, 'model.supervisions.ddae.taps',
        [2, 4.0], TypeError,
        r'^model\.supervisions\.ddae: taps\[1\]: expected an int, got 4\.0'),
    row('DDAESupervision weight negative', DDAE, 'model.supervisions.ddae.weights',
        [1.0, -0.5], ValueError,
        r'^model\.supervisions\.ddae: weights\[1\]: expected a number >= 0, got -0\.5'),
    row('DDAESupervision weights a number', DDAE, 'model.supervisions.ddae.weights',
        0.5, TypeError,
        r'^model\.supervisions\.ddae: weights: expected a list of 2 numbers, one per tap '
        r'\[2, 4\], got 0\.5'),
    row('DDAESupervision unknown metric', DDAE, 'model.supervisions.ddae.metric',
        'hamming', ValueError,
        r"^model\.supervisions\.ddae: .*unknown distance metric 'hamming'; expected one of "
        r"euclidean, manhattan, chebyshev"),
    row('DDAESupervision decoder a string', DDAE, 'model.supervisions.ddae.decoder',
        'light', TypeError,
        r"^model\.supervisions\.ddae: decoder: expected a dict of DeepMIMDecoders "
        r"arguments, got 'light'"),
    row('DDAESupervision loss sets the shared metric', DDAE,
        'model.supervisions.ddae.loss', dict(metric='manhattan'), ValueError,
        r'^model\.supervisions\.ddae: loss\.metric: set by DDAESupervision'),
    row('DDAESupervision loss criterion unknown', DDAE,
        'model.supervisions.ddae.loss', dict(criterion='L3'), ValueError,
        r"^model\.supervisions\.ddae: loss \(tap 2\): DDAEFeatureLoss\.criterion: "
        r"expected one of 'L1', 'L2', got 'L3'"),
    row('DDAESupervision loss schedule overflows', DDAE,
        'model.supervisions.ddae.loss',
        dict(schedule=dict(type='DDAEExponentSchedule', shallow=1e5)), ValueError,
        r'^model\.supervisions\.ddae: loss \(tap 2\): DDAEFeatureLoss\.schedule: '
        r'the schedule gives g'),
    # DDAEPixelLoss (DDAE's final-decoder loss, model.head.loss): built by the
    # head, which ComposableMAE builds, putting the key before the loss's own message
    row('DDAEPixelLoss depth zero', DDAE, 'model.head.loss.depth', 0, ValueError,
        r'^model\.head\.loss: DDAEPixelLoss\.depth: expected a .*in \(0, 1\], '
        r'got 0'),
    row('DDAEPixelLoss depth a string', DDAE, 'model.head.loss.depth', '1',
        TypeError, r"^model\.head\.loss: DDAEPixelLoss\.depth: expected a number "
                   r"in \(0, 1\], got '1'"),
    row('DDAEPixelLoss criterion unknown', DDAE, 'model.head.loss.criterion',
        'L3', ValueError,
        r"^model\.head\.loss: DDAEPixelLoss\.criterion: expected one of 'L1', "
        r"'L2', got 'L3'"),
    row('DDAEPixelLoss grid an int', DDAE, 'model.head.loss.grid', 8, TypeError,
        r'^model\.head\.loss: DDAEPixelLoss\.grid: expected the patch grid '
        r'\(height, width\), got 8'),
    row('DDAEPixelLoss unknown metric', DDAE, 'model.head.loss.metric', 'hamming',
        ValueError, r"^model\.head\.loss: DDAEPixelLoss\.metric: unknown distance "
                    r"metric 'hamming'"),
    row('DDAEPixelLoss schedule a string', DDAE, 'model.head.loss.schedule',
        'DDAEExponentSchedule', TypeError,
        r"^model\.head\.loss: DDAEPixelLoss\.schedule: expected a dict such as "
        r"dict\(type='DDAEExponentSchedule'.*got 'DDAEExponentSchedule'"),
    row('DDAEPixelLoss unknown argument', DDAE, 'model.head.loss.depht', 1,
        TypeError, r"^model\.head\.loss: DDAEPixelLoss\.__init__\(\) got an "
                   r"unexpected keyword argument 'depht'"),
    # DDAEExponentSchedule (the schedule of a DDAE loss)
    row('DDAEExponentSchedule deep a string', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', deep='-1'), TypeError,
        r"^model\.head\.loss: DDAEPixelLoss\.schedule: deep: expected a finite "
        r"number, got '-1'"),
    row('DDAEExponentSchedule start negative', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', start=-0.1), ValueError,
        r'^model\.head\.loss: DDAEPixelLoss\.schedule: start: expected a number '
        r'>= 0, got -0\.1'),
    row('DDAEExponentSchedule end not after start', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', start=0.5, end=0.5), ValueError,
        r'^model\.head\.loss: DDAEPixelLoss\.schedule: start, end: expected '
        r'0 <= start < end, got 0\.5, 0\.5'),
    # DeepMIMTokenSupervision (DeepMIM on BEiT-v2)
    row('DeepMIMTokenSupervision tap zero', DEEPMIM_BEIT, 'model.supervisions.deepmim.taps',
        [0, 3], ValueError, r'^model\.supervisions\.deepmim: taps: block 0 is out of range'),
    row('DeepMIMTokenSupervision tap not an int', DEEPMIM_BEIT,
        'model.supervisions.deepmim.taps', [2.5, 4], TypeError,
        r'^model\.supervisions\.deepmim: taps\[0\]: expected an int, got 2\.5'),
    row('DeepMIMTokenSupervision weight negative', DEEPMIM_BEIT,
        'model.supervisions.deepmim.weights', [1, 1, -1], ValueError,
        r'^model\.supervisions\.deepmim: weights\[2\]: expected a number >= 0, got -1'),
    row('DeepMIMTokenSupervision num_embed zero', DEEPMIM_BEIT,
        'model.supervisions.deepmim.num_embed', 0, ValueError,
        r'^model\.supervisions\.deepmim: num_embed: expected the codebook size \(int\), got 0'),
    # ComposableBEiT and DDAEBEiTV2Head (DDAE on BEiT-v2)
    row('ComposableBEiT supervision of visible-token taps', DEEPMIM_BEIT,
        'model.supervisions.deepmim.type', 'DeepMIMSupervision', ValueError,
        r'^model\.supervisions\.deepmim: DeepMIMSupervision reads taps of visible tokens, but '
        r'ComposableBEiT'),
    row('DDAEBEiTV2Head depth above 1', DDAE_BEIT, 'model.head.depth', 1.5,
        ValueError, r'^DDAEBEiTV2Head\.depth: expected a .*in \(0, 1\], got 1\.5'),
    row('DDAEBEiTV2Head grid not the backbone\'s', DDAE_BEIT, 'model.head.grid',
        [14, 14], ValueError,
        r"^model\.head\.grid: expected the backbone's patch grid \(8, 8\).*got \(14, 14\)"),
    row('DDAESupervision decoder on BEiT', DDAE_BEIT, 'model.supervisions.ddae.decoder',
        dict(decoder_depth=1), ValueError,
        r'^model\.supervisions\.ddae: decoder: BEiT taps are read by LayerNorm \+ Linear'),
    # StrictLoadVisionTransformer (fine-tuning): the file is read by init_weights
    row('StrictLoadVisionTransformer checkpoint missing', FINETUNE,
        'model.backbone.init_cfg.checkpoint', f'{MISSING}/backbone.pth', FileNotFoundError,
        r'^model\.backbone\.init_cfg\.checkpoint: /nonexistent/dir/backbone\.pth: no such file',
        stage='init'),
    # transforms
    row('SimpleResizedCrop size zero', SRC, 'size', 0, ValueError,
        r'^SimpleResizedCrop\.size: expected a positive int, got 0'),
    row('SimpleResizedCrop padding_mode unknown', SRC, 'padding_mode', 'wrap', ValueError,
        r"^SimpleResizedCrop\.padding_mode: expected one of .*got 'wrap'"),
    row('SimpleResizedCrop interpolation unknown', SRC, 'interpolation', 'bicubc', ValueError,
        r"^SimpleResizedCrop\.interpolation: expected one of 'nearest', .*got 'bicubc'"),
    row('ThreeAugment solarize_thr out of range', THREE_AUGMENT, 'solarize_thr', 300,
        ValueError, r'^ThreeAugment\.solarize_thr: expected a number in \[0, 256\], got 300'),
    row('ThreeAugment blur_radius a number', THREE_AUGMENT, 'blur_radius', 2.0, TypeError,
        r'^ThreeAugment\.blur_radius: expected a list of 2 numbers, got 2\.0'),
    row('ThreeAugment blur_radius reversed', THREE_AUGMENT, 'blur_radius', (2.0, 0.1),
        ValueError, r'^ThreeAugment\.blur_radius: expected \(min, max\) with 0 <= min <= max'),
    row('ThreeAugment color_format unknown', THREE_AUGMENT, 'color_format', 'RGB', ValueError,
        r"^ThreeAugment\.color_format: expected 'bgr' or 'rgb', got 'RGB'"),
]


def build(source, key, value, stage):
    """Build ``source`` with ``key`` set to ``value`` (see :func:`row`)."""
    value = resolve(value)
    if isinstance(source, dict):  # a component config
        cfg = dict(source, **{key: value})
        registry = TRANSFORMS if TRANSFORMS.get(cfg['type']) is not None else MODELS
        return registry.build(cfg)
    cfg = load(source)
    cfg.merge_from_dict({key: value})
    model = MODELS.build(cfg.model)
    if stage == 'init':
        model.init_weights()
    return model


@pytest.mark.parametrize('source, key, value, error, message, stage', ROWS)
def test_bad_config_fails_naming_the_key(source, key, value, error, message, stage):
    with pytest.raises(error, match=message) as raised:
        build(source, key, value, stage)
    # the error itself, not one of a subclass that says something else
    assert type(raised.value) is error, raised.value


@pytest.mark.parametrize('source', [MAE, DEEPMIM, DDAE, LUT, DEEPMIM_BEIT, DDAE_BEIT])
def test_the_unchanged_configs_build(source):
    """The table's starting points are valid: each row's error comes from its one key."""
    MODELS.build(load(source).model)
