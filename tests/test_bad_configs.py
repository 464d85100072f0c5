"""Bad configurations fail when the model (or transform) is built, naming the key.

One table: each row changes one key of a tiny config (or of a component's config) to a
value of the wrong type, out of range, or naming a missing file, and gives the error the
build must raise, the key its message must start with (as the user writes it) and a
regular expression for the problem it must state.
"""
import copy
import functools
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS

from mim_deepsup.testing import ROOT


def config(*parts):
    return osp.join(ROOT, 'configs', *parts)


MAE = config('mae', 'mae_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM = config('deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py')
DDAE = config('ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py')
LUT = config('lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_BEIT = config('deepmim', 'deepmim_beitv2_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_BEIT = config('ddae', 'ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py')
FINETUNE = config('lut', 'benchmarks', 'lut_vit-tiny-p4_1xb32-coslr-5e_demo.py')
DEEPMIM_HOG = config('deepmim', 'deepmim-hog_vit-tiny-p4_1xb32-20e_demo.py')
DDAE_HOG = config('ddae', 'ddae-hog_vit-tiny-p4_1xb32-20e_demo.py')
PIXMIM = config('pixmim', 'pixmim_vit-tiny-p4_1xb32-20e_demo.py')
DEEPMIM_PIXMIM = config('deepmim', 'deepmim_pixmim_vit-tiny-p4_1xb32-20e_demo.py')
LUT_PIXMIM = config('lut', 'lut_pixmim_vit-tiny-p4_1xb32-20e_demo.py')
LOW_FREQ = dict(_delete_=True, type='LowFreqPixelTarget', radius=6, img_size=32)

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


def row(id, source, key, value, error, problem, names=None, stage='build'):
    """``source``: a config file (``key`` a dotted key in it; ``cfg.model`` is built) or a
    component config (``key`` one of its arguments). The message must start with the key it
    names (``names``, by default ``key``) and contain the regular expression ``problem``.
    ``stage='init'``: the error comes when the weights are initialised (``init_weights``),
    still before any training step."""
    return pytest.param(source, key, value, error, names or key, problem, stage, id=id)


SUPERVISION = 'model.supervisions.{}'.format
ROWS = [
    # ComposableMAE
    row('ComposableMAE mask_ratio out of range', MAE, 'model.backbone.mask_ratio', 1.5,
        ValueError, r'\(0, 1\).*1\.5'),
    row('ComposableMAE mask_ratio a string', MAE, 'model.backbone.mask_ratio', '0.75',
        TypeError, r"number.*'0\.75'"),
    row('ComposableMAE mask_ratio too low for 2 views', LUT, 'model.backbone.mask_ratio', 0.4,
        ValueError, r'at least 0\.5'),
    row('ComposableMAE batch_views not a bool', LUT, 'model.batch_views', 'no',
        TypeError, r"True or False.*'no'"),
    row('ComposableMAE out_indices with a teacher', LUT, 'model.backbone.out_indices', [2, 5],
        ValueError, r'must be \[-1\].*\[2, 5\]'),
    row('ComposableMAE supervisions a list', MAE, 'model.supervisions', ['DeepMIMSupervision'],
        TypeError, r'dict of name -> component'),
    row('ComposableMAE supervision a string', MAE, SUPERVISION('aux'), 'DeepMIMSupervision',
        TypeError, r"component config.*got 'DeepMIMSupervision'"),
    row('ComposableMAE supervision without type', MAE, SUPERVISION('aux'), dict(taps=[2, 4]),
        TypeError, r"'type'"),
    row('ComposableMAE supervision of unknown type', MAE, SUPERVISION('aux'),
        dict(type='DeepSupervisoin'), KeyError, r"'DeepSupervisoin' is not a registered",
        names=SUPERVISION('aux.type')),
    row('ComposableMAE supervision named loss', MAE, SUPERVISION('my_loss'),
        dict(type='DeepMIMSupervision'), ValueError, r'may not contain "loss"'),
    row('ComposableMAE head of unknown type', MAE, 'model.head.type', 'MAEPretrainHeed',
        KeyError, r'MAEPretrainHeed is not in the .*registry', names='model.head'),
    row('ComposableMAE head loss of unknown type', DDAE, 'model.head.loss.type',
        'DistanceWeightedPixelLos', KeyError, r'DistanceWeightedPixelLos is not in the',
        names='model.head.loss'),
    # EMATeacher (model.teacher), built by the algorithm
    row('EMATeacher not a dict', LUT, 'model.teacher', 'EMATeacher', TypeError,
        r"dict\(type='EMATeacher'.*got 'EMATeacher'"),
    row('EMATeacher type misspelt', LUT, 'model.teacher.type', 'EMATeachr', KeyError,
        r'EMATeachr is not in the', names='model.teacher'),
    row('EMATeacher base_momentum a string', LUT, 'model.teacher.base_momentum', '0.99',
        TypeError, r"\[0, 1\].*'0\.99'"),
    row('EMATeacher end_momentum out of range', LUT, 'model.teacher.end_momentum', 2,
        ValueError, r'\[0, 1\].*2'),
    row('EMATeacher sources a string', LUT, 'model.teacher.sources', 'backbone', TypeError,
        r"list of attribute paths.*'backbone'"),
    row('EMATeacher sources without the backbone', LUT, 'model.teacher.sources', ['encoder'],
        ValueError, r'must include "backbone"'),
    row('EMATeacher average_buffers not a bool', LUT, 'model.teacher.average_buffers', 'yes',
        TypeError, r"True or False.*'yes'"),
    row('EMATeacher momentum on BEiT out of range', DDAE_BEIT, 'model.teacher',
        dict(type='EMATeacher', base_momentum=-1), ValueError, r'\[0, 1\].*-1',
        names='model.teacher.base_momentum'),
    # LUTSupervision (LUT)
    row('LUTSupervision weight negative', LUT, SUPERVISION('lut.weight'), -1, ValueError,
        r'>= 0.*-1'),
    row('LUTSupervision weight a string', LUT, SUPERVISION('lut.weight'), 'x', TypeError,
        r"number.*'x'"),
    row('LUTSupervision projector not a dict', LUT, SUPERVISION('lut.projector'), 3,
        TypeError, r"NonLinearNeck arguments or 'identity', got 3"),
    row('LUTSupervision projector hid_channels a string', LUT,
        SUPERVISION('lut.projector.hid_channels'), 'x', TypeError, r"int >= 1.*'x'"),
    row('LUTSupervision predictor out_channels zero', LUT,
        SUPERVISION('lut.predictor.out_channels'), 0, ValueError, r'int >= 1.*0'),
    row('LUTSupervision projector num_layers a float', LUT,
        SUPERVISION('lut.projector.num_layers'), 2.0, TypeError, r'int >= 1.*2\.0'),
    # DeepMIMSupervision (DeepMIM on MAE)
    row('DeepMIMSupervision tap beyond the encoder', DEEPMIM, SUPERVISION('deepmim.taps'),
        [3, 6], ValueError, r'blocks 1\.\.5 .*\[3, 6\]'),
    row('DeepMIMSupervision taps an int', DEEPMIM, SUPERVISION('deepmim.taps'), 4,
        TypeError, r'list of blocks.*got 4'),
    row('DeepMIMSupervision tap not an int', DEEPMIM, SUPERVISION('deepmim.taps'), [2.5, 4],
        TypeError, r'an int, got 2\.5', names=SUPERVISION('deepmim.taps[0]')),
    row('DeepMIMSupervision weight negative', DEEPMIM, SUPERVISION('deepmim.weights'),
        [1.0, -1.0, 1.0], ValueError, r'>= 0.*-1\.0',
        names=SUPERVISION('deepmim.weights[1]')),
    row('DeepMIMSupervision weights one short', DEEPMIM, SUPERVISION('deepmim.weights'),
        [1.0, 1.0], ValueError, r'3 numbers, got 2'),
    row('DeepMIMSupervision decoder an int', DEEPMIM, SUPERVISION('deepmim.decoder'), 7,
        TypeError, r"DeepMIMDecoders arguments or 'light', got 7"),
    row('DeepMIMSupervision decoder heads do not divide the width', DEEPMIM,
        SUPERVISION('deepmim.decoder.decoder_num_heads'), 5, ValueError,
        r'divisor of decoder_embed_dim \(64\), got 5'),
    row('DeepMIMSupervision decoder width a string', DEEPMIM,
        SUPERVISION('deepmim.decoder.decoder_embed_dim'), '64', TypeError, r"int >= 1.*'64'"),
    row('DeepMIMSupervision head a string', DEEPMIM, SUPERVISION('deepmim.head'),
        'MAEPretrainHead', TypeError, r"MIM head.*got 'MAEPretrainHead'"),
    row('DeepMIMSupervision hybrid a path', DEEPMIM, SUPERVISION('deepmim.hybrid'),
        'frozen_mae.pth', TypeError, r"DeepMIMHybridTarget arguments, got 'frozen_mae\.pth'"),
    row('DeepMIMSupervision hybrid alpha out of range', DEEPMIM, SUPERVISION('deepmim'),
        dict(hybrid=FROZEN_MAE, hybrid_alphas=[0.5, 2.0, 0.5]), ValueError, r'\[0, 1\].*2\.0',
        names=SUPERVISION('deepmim.hybrid_alphas[1]')),
    row('DeepMIMSupervision hybrid alphas without hybrid', DEEPMIM,
        SUPERVISION('deepmim.hybrid_alphas'), [0.5, 0.5, 0.5], ValueError,
        r'given without hybrid'),
    # DeepMIMHybridTarget (DeepMIM's hybrid target)
    row('DeepMIMHybridTarget checkpoint missing', DEEPMIM, SUPERVISION('deepmim.hybrid'),
        dict(type='DeepMIMHybridTarget', model=tiny_mae_model,
             checkpoint=f'{MISSING}/mae.pth'), FileNotFoundError,
        r"no such checkpoint file '/nonexistent/dir/mae\.pth'",
        names=SUPERVISION('deepmim.hybrid.checkpoint')),
    row('DeepMIMHybridTarget checkpoint not given', DEEPMIM, SUPERVISION('deepmim.hybrid'),
        dict(type='DeepMIMHybridTarget', model=tiny_mae_model), ValueError, r'required',
        names=SUPERVISION('deepmim.hybrid.checkpoint')),
    row('DeepMIMHybridTarget model config file missing', DEEPMIM,
        SUPERVISION('deepmim.hybrid'), dict(FROZEN_MAE, model=f'{MISSING}/mae.py'),
        FileNotFoundError, r"no such config file '/nonexistent/dir/mae\.py'",
        names=SUPERVISION('deepmim.hybrid.model')),
    row('DeepMIMHybridTarget model without a decoder', DEEPMIM,
        SUPERVISION('deepmim.hybrid'), dict(FROZEN_MAE, model=dict(backbone=dict(type='MAEViT'))),
        ValueError, r"a backbone and a neck.*\['backbone'\]",
        names=SUPERVISION('deepmim.hybrid.model')),
    # FrozenFeatureTarget (model.target_generator)
    row('FrozenFeatureTarget checkpoint missing', MAE, 'model.target_generator',
        dict(FROZEN_VIT, random_weights=False, checkpoint=f'{MISSING}/clip.pth'),
        FileNotFoundError, r"no such checkpoint file '/nonexistent/dir/clip\.pth'",
        names='model.target_generator.checkpoint'),
    row('FrozenFeatureTarget std zero', MAE, 'model.target_generator',
        dict(FROZEN_VIT, std=[58.395, 0, 57.375]), ValueError, r'> 0, got 0',
        names='model.target_generator.std[1]'),
    row('FrozenFeatureTarget mean of 1 channel', MAE, 'model.target_generator',
        dict(FROZEN_VIT, mean=[127.5]), ValueError, r'3 numbers, got 1',
        names='model.target_generator.mean'),
    # PatchHOGTarget, LowFreqPixelTarget (model.target_generator)
    row('PatchHOGTarget pool not a divisor of the patch', DEEPMIM_HOG,
        'model.target_generator.pool', 3, ValueError, r'divisor of patch_size=4, got 3'),
    row('PatchHOGTarget patch size not the backbone\'s', DEEPMIM_HOG,
        'model.target_generator.patch_size', 8, ValueError, r"8, the backbone's patches "
        r'are 4 px'),
    row('PatchHOGTarget window not a divisor of the image', DEEPMIM_HOG,
        'model.target_generator.gaussian_window', 12, ValueError,
        r"divisor of the images' sides \(32, 32\), got 12"),
    row('PatchHOGTarget no bins', DEEPMIM_HOG, 'model.target_generator.nbins', 0,
        ValueError, r'>= 1, got 0'),
    row('LowFreqPixelTarget radius 0', PIXMIM, 'model.target_generator.radius', 0,
        ValueError, r'> 0, got 0'),
    row('LowFreqPixelTarget another image size', PIXMIM, 'model.target_generator.img_size',
        224, ValueError, r"images' size \(32, 32\), got \(224, 224\)"),
    row('LowFreqPixelTarget another image size than LUT\'s views', LUT_PIXMIM,
        'model.target_generator.img_size', 64, ValueError,
        r"images' size \(32, 32\), got \(64, 64\)"),
    row('LowFreqPixelTarget with a feature head', DDAE_HOG, 'model.target_generator',
        LOW_FREQ, ValueError, r'LowFreqPixelTarget gives images.*pixel head.*got MIMHead',
        names='model.head'),
    row('LowFreqPixelTarget for decoders of features', DEEPMIM_PIXMIM,
        SUPERVISION('deepmim.head'), dict(type='MIMHead', loss=dict(
            type='PixelReconstructionLoss', criterion='L2')), ValueError,
        r"reads the target generator's features", names=SUPERVISION('deepmim')),
    # DDAESupervision (DDAE on MAE)
    row('DDAESupervision tap beyond the encoder', DDAE, SUPERVISION('ddae.taps'), [2, 6],
        ValueError, r'blocks 1\.\.5 .*\[2, 6\]'),
    row('DDAESupervision tap not an int', DDAE, SUPERVISION('ddae.taps'), [2, 4.0],
        TypeError, r'an int, got 4\.0', names=SUPERVISION('ddae.taps[1]')),
    row('DDAESupervision weight negative', DDAE, SUPERVISION('ddae.weights'), [1.0, -0.5],
        ValueError, r'>= 0.*-0\.5', names=SUPERVISION('ddae.weights[1]')),
    row('DDAESupervision weights a number', DDAE, SUPERVISION('ddae.weights'), 0.5,
        TypeError, r'list of 2 numbers, got 0\.5'),
    row('DDAESupervision unknown metric', DDAE, SUPERVISION('ddae.metric'), 'hamming',
        ValueError, r"'euclidean'.*got 'hamming'"),
    row('DDAESupervision decoder a string', DDAE, SUPERVISION('ddae.decoder'), 'light',
        TypeError, r"DeepMIMDecoders arguments, got 'light'"),
    row('DDAESupervision loss sets the shared metric', DDAE, SUPERVISION('ddae.loss'),
        dict(metric='manhattan'), ValueError, r'set by DDAESupervision',
        names=SUPERVISION('ddae.loss.metric')),
    row('DDAESupervision loss criterion unknown', DDAE, SUPERVISION('ddae.loss'),
        dict(criterion='L3'), ValueError, r"'L1', 'L2', got 'L3'",
        names=SUPERVISION('ddae.loss.criterion')),
    row('DDAESupervision loss schedule not the final loss\'s', DDAE, SUPERVISION('ddae.loss'),
        dict(schedule=dict(type='DDAEExponentSchedule', shallow=0.5)), ValueError,
        r'but model\.head\.loss\.schedule is DDAEExponentSchedule\(shallow=1\.0',
        names=SUPERVISION('ddae.loss.schedule')),
    row('DDAEPixelLoss schedule overflows at depth 1', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', deep=-1e5), ValueError,
        r'gives g = .* at depth 1, .*must be finite', names='model.head.loss.schedule'),
    row('DDAEPixelLoss schedule overflows at the taps\' depths', DDAE,
        'model.head.loss.schedule', dict(type='DDAEExponentSchedule', shallow=1e5), ValueError,
        r'taken from model\.head\.loss\.schedule, gives g = .* at depth 0\.333333',
        names='model.supervisions.ddae.loss.schedule'),
    # DDAEPixelLoss (DDAE's final-decoder loss, model.head.loss)
    row('DDAEPixelLoss depth zero', DDAE, 'model.head.loss.depth', 0, ValueError,
        r'\(0, 1\], got 0'),
    row('DDAEPixelLoss depth a string', DDAE, 'model.head.loss.depth', '1', TypeError,
        r"number.*'1'"),
    row('DDAEPixelLoss criterion unknown', DDAE, 'model.head.loss.criterion', 'L3',
        ValueError, r"'L1', 'L2', got 'L3'"),
    row('DDAEPixelLoss unknown metric', DDAE, 'model.head.loss.metric', 'hamming',
        ValueError, r"'euclidean'.*got 'hamming'"),
    row('DDAEPixelLoss schedule a string', DDAE, 'model.head.loss.schedule',
        'DDAEExponentSchedule', TypeError, r"dict\(type='DDAEExponentSchedule'"),
    row('DDAEPixelLoss unknown argument', DDAE, 'model.head.loss.depht', 1, TypeError,
        r"unexpected keyword argument 'depht'", names='model.head.loss'),
    # DDAEExponentSchedule (the schedule of a DDAE loss)
    row('DDAEExponentSchedule deep a string', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', deep='-1'), TypeError, r"finite number.*'-1'",
        names='model.head.loss.schedule.deep'),
    row('DDAEExponentSchedule start negative', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', start=-0.1), ValueError, r'>= 0, got -0\.1',
        names='model.head.loss.schedule.start'),
    row('DDAEExponentSchedule end not after start', DDAE, 'model.head.loss.schedule',
        dict(type='DDAEExponentSchedule', start=0.5, end=0.5), ValueError,
        r'start, end: .*start < end'),
    # DeepMIMTokenSupervision (DeepMIM on BEiT-v2)
    row('DeepMIMTokenSupervision tap zero', DEEPMIM_BEIT, SUPERVISION('deepmim.taps'),
        [0, 3], ValueError, r'blocks 1\.\.5 .*\[0, 3\]'),
    row('DeepMIMTokenSupervision tap not an int', DEEPMIM_BEIT, SUPERVISION('deepmim.taps'),
        [2.5, 4], TypeError, r'an int, got 2\.5', names=SUPERVISION('deepmim.taps[0]')),
    row('DeepMIMTokenSupervision weight negative', DEEPMIM_BEIT,
        SUPERVISION('deepmim.weights'), [1, 1, -1], ValueError, r'>= 0.*-1',
        names=SUPERVISION('deepmim.weights[2]')),
    row('DeepMIMTokenSupervision num_embed zero', DEEPMIM_BEIT,
        SUPERVISION('deepmim.num_embed'), 0, ValueError, r'int >= 1.*0'),
    # ComposableBEiT and DDAEBEiTV2Head (DDAE on BEiT-v2)
    row('ComposableBEiT supervision of visible-token taps', DEEPMIM_BEIT,
        SUPERVISION('deepmim.type'), 'DeepMIMSupervision', ValueError,
        r'reads taps of visible tokens.*ComposableBEiT', names=SUPERVISION('deepmim')),
    row('DDAEBEiTV2Head depth above 1', DDAE_BEIT, 'model.head.depth', 1.5, ValueError,
        r'\(0, 1\], got 1\.5'),
    row('DDAEBEiTV2Head unknown metric', DDAE_BEIT, 'model.head.metric', 'hamming',
        ValueError, r"got 'hamming'"),
    row('DDAESupervision decoder on BEiT', DDAE_BEIT, SUPERVISION('ddae.decoder'),
        dict(decoder_depth=1), ValueError, r'no decoder shape'),
    # StrictLoadVisionTransformer (fine-tuning): the file is read by init_weights
    row('StrictLoadVisionTransformer checkpoint missing', FINETUNE,
        'model.backbone.init_cfg.checkpoint', f'{MISSING}/backbone.pth', FileNotFoundError,
        r'/nonexistent/dir/backbone\.pth: no such file', stage='init'),
    # transforms
    row('SimpleResizedCrop size zero', SRC, 'size', 0, ValueError, r'positive int, got 0',
        names='SimpleResizedCrop.size'),
    row('SimpleResizedCrop padding_mode unknown', SRC, 'padding_mode', 'wrap', ValueError,
        r"one of .*got 'wrap'", names='SimpleResizedCrop.padding_mode'),
    row('SimpleResizedCrop interpolation unknown', SRC, 'interpolation', 'bicubc', ValueError,
        r"'nearest'.*got 'bicubc'", names='SimpleResizedCrop.interpolation'),
    row('ThreeAugment solarize_thr out of range', THREE_AUGMENT, 'solarize_thr', 300,
        ValueError, r'\[0, 256\], got 300', names='ThreeAugment.solarize_thr'),
    row('ThreeAugment blur_radius a number', THREE_AUGMENT, 'blur_radius', 2.0, TypeError,
        r'2 numbers, got 2\.0', names='ThreeAugment.blur_radius'),
    row('ThreeAugment blur_radius reversed', THREE_AUGMENT, 'blur_radius', (2.0, 0.1),
        ValueError, r'min <= max', names='ThreeAugment.blur_radius'),
    row('ThreeAugment color_format unknown', THREE_AUGMENT, 'color_format', 'RGB', ValueError,
        r"'bgr' or 'rgb', got 'RGB'", names='ThreeAugment.color_format'),
    # LUTDataPreprocessor and its ContextViewAugment (the LUT configs' data_preprocessor)
    row('LUTDataPreprocessor context_augment a string', LUT,
        'data_preprocessor.context_augment', 'ContextViewAugment', TypeError, r'expected a dict'),
    row('ContextViewAugment jitter_prob above 1', LUT,
        'data_preprocessor.context_augment.jitter_prob', 1.2, ValueError, r'\[0, 1\], got 1\.2'),
    row('ContextViewAugment hue above 0.5', LUT, 'data_preprocessor.context_augment.hue', 0.6,
        ValueError, r'\[0, 0\.5\], got 0\.6'),
    row('ContextViewAugment negative saturation', LUT,
        'data_preprocessor.context_augment.saturation', -0.2, ValueError, r'>= 0, got -0\.2'),
    row('ContextViewAugment blur_sigma reversed', LUT,
        'data_preprocessor.context_augment.blur_sigma', (2.0, 0.1), ValueError, r'min <= max'),
    row('ContextViewAugment blur_sigma zero', LUT,
        'data_preprocessor.context_augment.blur_sigma', (0, 2.0), ValueError, r'> 0, got 0',
        names='data_preprocessor.context_augment.blur_sigma[0]'),
    row('LUTDataPreprocessor context_view negative', LUT, 'data_preprocessor.context_view', -1,
        ValueError, r'>= 0, got -1'),
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
    if cfg.get('data_preprocessor') is not None:  # the Runner's merge of the top-level key
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    if stage == 'init':
        model.init_weights()
    return model


@pytest.mark.parametrize('source, key, value, error, names, problem, stage', ROWS)
def test_bad_config_fails_naming_the_key_and_the_problem(source, key, value, error, names,
                                                         problem, stage):
    with pytest.raises(error) as raised:
        build(source, key, value, stage)
    # the error itself, not one of a subclass that says something else
    assert type(raised.value) is error, raised.value
    message = str(raised.value.args[0])
    assert message.startswith(f'{names}: '), message
    assert re.search(problem, message), message


@pytest.mark.parametrize('source', [MAE, DEEPMIM, DDAE, LUT, DEEPMIM_BEIT, DDAE_BEIT,
                                    DEEPMIM_HOG, DDAE_HOG, PIXMIM])
def test_the_unchanged_configs_build(source):
    """The table's starting points are valid: each row's error comes from its one key."""
    MODELS.build(load(source).model)
