"""Every pretraining config gives the losses recorded in tests/data/config_losses.json.

The numbers were computed once, by the code as it stood before the package was
reorganised around the techniques (commit 043e276, with training progress published as its
TrainingProgressHook did: ``set_progress`` on every module), for fixed weights, batch and
seed:
a change that moves code without changing what it computes keeps them. Configs added
since (HOG, DINO, PixMIM, SimMIM, MaskFeat) were recorded by the code that added them.
Tiny configs run in the fast tier; ViT-B/L configs build the full model and are marked slow.

The fixed batch is what the data pipeline gives; LUT's colour augmentation of the context
view, which the data preprocessor does on the device since (test_context_augment.py), is
left out, so a ``lut-cpuaug_*`` config and its default have the same record.
"""
import glob
import json
import os.path as osp
import zlib

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECORDED = osp.join(ROOT, 'tests', 'data', 'config_losses.json')
PROGRESS = 0.5  # DDAE's exponent is non-zero in the middle of training
# state-dict names renamed since the recording (LUT's component key 'bc' became 'lut'):
# each weight is seeded by the name it had then
RECORDED_NAMES = (('supervisions.lut.', 'supervisions.bc.'),
                  ('supervisions__lut__', 'supervisions__bc__'))


def pretraining_configs():
    """Paths (from the repository root) of the configs that build a composable algorithm."""
    paths = []
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        rel = osp.relpath(path, ROOT)
        if '_base_' in rel.split(osp.sep) or osp.basename(path) == 'digits_recipe.py':
            continue
        model = Config.fromfile(path).get('model', {})
        if str(model.get('type', '')).endswith(('ComposableMAE', 'ComposableBEiT',
                                                'ComposableSimMIM', 'ComposableMaskFeat')):
            paths.append(rel)
    return paths


def _without_checkpoints(cfg):
    """Frozen target networks (CLIP, a frozen MAE) with random weights: no file needed."""
    if isinstance(cfg, dict):
        if 'checkpoint' in cfg and 'random_weights' in _frozen_args(cfg):
            cfg['checkpoint'] = None
            cfg['random_weights'] = True
        for value in cfg.values():
            _without_checkpoints(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _without_checkpoints(value)


def _frozen_args(cfg) -> tuple:
    cls = MODELS.get(cfg.get('type')) if isinstance(cfg.get('type'), str) else None
    code = getattr(getattr(cls, '__init__', None), '__code__', None)
    return code.co_varnames[:code.co_argcount] if code is not None else ()


def set_named_weights(model: torch.nn.Module) -> None:
    """Every floating-point state-dict entry from a generator seeded by its name: the
    weights depend on the names alone, not on the order the modules were built in."""
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name]
        if not tensor.is_floating_point():
            continue
        recorded = name
        for new, old in RECORDED_NAMES:
            recorded = recorded.replace(new, old)
        generator = torch.Generator().manual_seed(zlib.crc32(recorded.encode()))
        values = torch.randn(tensor.shape, generator=generator) * 0.02
        if name.endswith('running_var'):
            values = torch.ones(tensor.shape)
        elif tensor.dim() == 1 and name.endswith('weight'):
            values = values + 1  # norms' scales around 1
        tensor.copy_(values.to(tensor.dtype))


def random_batch(cfg, model, batch_size: int, size: int) -> dict:
    """A uint8 batch as the config's pipeline gives it: one or several views, and the
    masks of the pipeline's mask generator (BEiT), all from fixed seeds."""
    num_views = getattr(model, 'num_views', 1)
    if str(cfg.model.get('data_preprocessor', {}).get('type', '')).endswith(
            'TwoNormDataPreprocessor'):
        num_views = max(num_views, 2)
    generator = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8,
                           generator=generator) for _ in range(num_views)]
    samples = [DataSample() for _ in range(batch_size)]
    np.random.seed(0)
    for step in cfg.train_dataloader.dataset.pipeline:
        if str(step.get('type', '')).endswith('MaskGenerator'):
            mask_generator = TRANSFORMS.build(step)
            for sample in samples:
                sample.set_mask(torch.from_numpy(mask_generator.transform({})['mask']))
    return dict(inputs=views[0] if num_views == 1 else views, data_samples=samples)


def set_progress(model, progress: float) -> None:
    """Training progress as TrainingProgressHook publishes it."""
    model.set_progress(progress)


def config_losses(rel: str) -> dict:
    """The loss dict of ``rel``'s model for the named weights and a fixed batch and seed."""
    cfg = Config.fromfile(osp.join(ROOT, rel))
    _without_checkpoints(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # mmpretrain's configs state it outside
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if cfg.model.data_preprocessor.get('context_augment') is not None:
        cfg.model.data_preprocessor.context_augment = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    set_named_weights(model)
    model.train()
    size = model.backbone.patch_resolution[0] * model.backbone.patch_embed.projection.stride[0]
    batch_size = 4 if size <= 64 else 2
    data = model.data_preprocessor(random_batch(cfg, model, batch_size, size), training=True)
    set_progress(model, PROGRESS)
    torch.manual_seed(1)
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
    return {key: float(value) for key, value in losses.items()}


def _is_tiny(rel: str) -> bool:
    return 'tiny' in osp.basename(rel)


def _params():
    return [pytest.param(rel, marks=() if _is_tiny(rel) else pytest.mark.slow)
            for rel in pretraining_configs()]


@pytest.mark.slow
def test_every_pretraining_config_is_recorded():
    with open(RECORDED) as f:
        recorded = json.load(f)
    assert sorted(recorded) == pretraining_configs()


@pytest.mark.parametrize('rel', _params())
def test_config_gives_the_recorded_losses(rel):
    with open(RECORDED) as f:
        expected = json.load(f)[rel]
    losses = config_losses(rel)
    assert sorted(losses) == sorted(expected)
    for key, value in expected.items():
        assert losses[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
