"""Test helpers for distributed runs (imported by tests/test_distributed.py and, through
``custom_imports``, by the training processes it starts)."""
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS, MODELS

from mim_deepsup.core import BaseSupervision


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
    """Test component: a finite loss until progress reaches ``at``, NaN from then on (on
    process ``rank`` only, if given)."""

    def __init__(self, at=0.5, rank=None):
        super().__init__()
        self.at, self.rank = at, rank
        self.progress_now = 0.0

    def set_progress(self, progress):
        self.progress_now = progress

    def loss(self, state):
        broken = self.progress_now >= self.at and self.rank in (None, dist.get_rank()
                                                                 if dist.is_initialized() else 0)
        return {'loss_breaks': state.latent.mean() * 0 + (float('nan') if broken else 0.0)}


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
    from mim_deepsup.methods.lut import AllReduceBatchNorm
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
