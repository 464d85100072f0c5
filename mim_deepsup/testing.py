"""What the test suite shares: the tiny config and a deterministic Runner config for it,
model building, a hand-written MAE masked pass to compare taps with, and test components
(registered on import; training processes started by a test import them through
``custom_imports = dict(imports=['mim_deepsup', 'mim_deepsup.testing'])``).

It needs the repository checkout (an editable install): the configs are read from it.
"""
import copy
import os
import os.path as osp
import uuid

import numpy as np
import torch
import torch.distributed as dist
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS, MODELS, TRANSFORMS

from .config_paths import config_root
from .core import BaseSupervision
from .fileio import REPO_ROOT

ROOT = REPO_ROOT
TINY_MAE = str(config_root() / 'mae' / 'mae_vit-tiny-p4_1xb32-20e_demo.py')


def tiny_runner_cfg(demo_data, work_dir, config=TINY_MAE, max_epochs=2, batch_size=16,
                    **overrides) -> Config:
    """The tiny config for a deterministic CPU run of ``max_epochs`` x (32 / batch) iters.

    Main-process data loading (num_workers=0) keeps augmentations reproducible on resume.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    # mmengine keys its message hub and visualizer by experiment name (config name + time to
    # the second): runs in the same second would share them
    cfg.experiment_name = f'test-{uuid.uuid4().hex}'
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.data_root = demo_data['imagenet']
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0, deterministic=False, diff_rank_seed=False)
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='UniversalVisualizer', vis_backends=[])
    cfg.merge_from_dict(copy.deepcopy(overrides))
    return cfg


def config_path(*parts) -> str:
    """A config of the repository, e.g. ``config_path('simmim', 'simmim_....py')``."""
    return osp.join(config_root(), *parts)


def model_config(path: str, **changes):
    """The ``model`` dict of a config file (a fresh copy), with ``changes`` merged in."""
    cfg = copy.deepcopy(Config.fromfile(path))
    cfg.merge_from_dict(dict(model=changes))
    return cfg.model


def loss_and_gradients(model, inputs, data_samples, seed=None):
    """One training-mode loss of ``model`` (after ``torch.manual_seed(seed)`` if given):
    ``(loss keys, total loss, parameter name -> gradient)``."""
    model.train()
    if seed is not None:
        torch.manual_seed(seed)
    losses = model.loss(inputs, data_samples)
    loss, _ = model.parse_losses(losses)
    model.zero_grad()
    loss.backward()
    return list(losses), loss, {name: p.grad.clone() for name, p in model.named_parameters()
                                if p.grad is not None}


def build_model(cfg, seed=0):
    """Build a model config with a fixed seed, initialise it and put it in training mode."""
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def manual_masked_pass(backbone, x, seed):
    """MAEViT's masked pass written out block by block, after ``torch.manual_seed(seed)``.

    Returns ``(mask, ids_restore, outputs)`` with ``outputs[block]`` the raw output of each
    block (from 1), to compare recorded taps and decoder inputs with.
    """
    torch.manual_seed(seed)
    tokens = backbone.patch_embed(x)[0] + backbone.pos_embed[:, 1:, :]
    tokens, mask, ids_restore = backbone.random_masking(tokens, backbone.mask_ratio)
    cls = (backbone.cls_token + backbone.pos_embed[:, :1, :]).expand(len(x), -1, -1)
    tokens = torch.cat([cls, tokens], dim=1)
    outputs = {}
    for i, layer in enumerate(backbone.layers, start=1):
        tokens = layer(tokens)
        outputs[i] = tokens
    return mask, ids_restore, outputs


def config_differences(a, b, prefix=''):
    """The dotted keys where two config dicts differ."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix.rstrip('.')]
    keys = sorted(set(a) | set(b))
    return [k for key in keys
            for k in config_differences(a.get(key), b.get(key), f'{prefix}{key}.')]


def reflect_shifts(out, img, padding):
    """Every (dy, dx) for which ``out`` is ``img``, reflect-padded, shifted by (dy, dx)."""
    padded = np.pad(img, ((padding, padding), (padding, padding), (0, 0)), mode='reflect')
    size = out.shape[0]
    return [(top - padding, left - padding)
            for top in range(padded.shape[0] - size + 1)
            for left in range(padded.shape[1] - size + 1)
            if np.array_equal(padded[top:top + size, left:left + size], out)]


# --- test components ---------------------------------------------------------------------

@HOOKS.register_module(force=True)
class StartSnapshotHook(Hook):
    """Keeps the model's weights as they are when training starts (``runner.start_state``)."""

    priority = 'LOWEST'

    def before_train(self, runner):
        runner.start_state = {k: v.clone() for k, v in runner.model.state_dict().items()}


@HOOKS.register_module(force=True)
class RecordRankHook(Hook):
    """Writes ``<work_dir>/rank<r>.pth`` at the end of training: this process's loss terms
    of every iteration and its model's final state (student, decoders, heads, teacher)."""

    priority = 'LOWEST'

    def before_train(self, runner):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: v.item() for k, v in outputs.items()})

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(dict(losses=self.losses, state=model.state_dict(),
                        world_size=runner.world_size),
                   osp.join(runner.work_dir, f'rank{runner.rank}.pth'))


@MODELS.register_module(force=True)
class LossThatBreaks(BaseSupervision):
    """A finite loss until training progress reaches ``at``, NaN from then on (on process
    ``rank`` only, if given)."""

    def __init__(self, at=0.5, rank=None):
        super().__init__()
        self.at, self.rank = at, rank

    def loss(self, state, teacher):
        rank = dist.get_rank() if dist.is_initialized() else 0
        broken = state.progress >= self.at and self.rank in (None, rank)
        return {'loss_breaks': state.latent.mean() * 0 + (float('nan') if broken else 0.0)}


# --- AllReduceBatchNorm across processes ------------------------------------------------

def bn_batches(case: dict):
    """The fixed batches (each (B, C) or (B, C, L)) and output gradients of a BatchNorm
    test case: ``steps`` draws around ``mean`` with spread 3."""
    g = torch.Generator().manual_seed(0)
    shape = case['shape']
    return [(torch.randn(*shape, generator=g) * 3 + case['mean'],
             torch.randn(*shape, generator=g)) for _ in range(case['steps'])]


def make_bn(case: dict, cls):
    bn = cls(case['shape'][1], momentum=case['momentum'])
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 2, case['shape'][1]))
        bn.bias.copy_(torch.linspace(-1, 1, case['shape'][1]))
    return bn


def all_reduce_bn_worker(rank: int, world_size: int, init_file: str, out_dir: str,
                         case: dict) -> None:
    """Process ``rank`` of ``world_size``: AllReduceBatchNorm on its share (rows rank,
    rank + W, ...) of each batch of ``case``, writing the last step's output, input grad
    and weight grad and the running statistics to ``<out_dir>/bn<rank>.pth``."""
    from .core.layers import AllReduceBatchNorm
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    try:
        bn = make_bn(case, AllReduceBatchNorm)
        for x, upstream in bn_batches(case):
            bn.zero_grad()
            part = x[rank::world_size].clone().requires_grad_()
            y = bn(part)
            # the loss of the whole batch is the sum over processes of each one's share
            (y * upstream[rank::world_size]).sum().backward()
        torch.save(dict(y=y.detach(), grad=part.grad, weight_grad=bn.weight.grad,
                        running_mean=bn.running_mean, running_var=bn.running_var),
                   os.path.join(out_dir, f'bn{rank}.pth'))
    finally:
        dist.destroy_process_group()


@TRANSFORMS.register_module(force=True)
class IndexSeeded(BaseTransform):
    """Runs ``transform`` (e.g. a mask generator drawing from numpy's global generator)
    with that generator seeded by the image's dataset index, and restores its state: the
    draw does not depend on which process loads the image, so a 2-process run can be
    compared with a 1-process one."""

    def __init__(self, transform: dict) -> None:
        self.inner = TRANSFORMS.build(transform)

    def transform(self, results: dict) -> dict:
        state = np.random.get_state()
        np.random.seed(results['sample_idx'])
        try:
            return self.inner(results)
        finally:
            np.random.set_state(state)
