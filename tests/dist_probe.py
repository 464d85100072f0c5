"""Test helpers for distributed runs (imported by tests/test_distributed.py and, through
``custom_imports``, by the training processes it starts)."""
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


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


def all_reduce_bn_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    """Process ``rank`` of ``world_size``: AllReduceBatchNorm on its share of a fixed
    batch (rows rank, rank + W, ...), writing output, input grad, weight grad and running
    statistics to ``<out_dir>/bn<rank>.pth``."""
    from mim_deepsup.models.utils import AllReduceBatchNorm
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size)
    try:
        torch.manual_seed(0)
        x = torch.randn(12, 5) * 3 + 1  # (B, C), the same on every process
        upstream = torch.randn(12, 5)  # a fixed gradient from "the loss"
        bn = AllReduceBatchNorm(5)
        with torch.no_grad():
            bn.weight.copy_(torch.linspace(0.5, 2, 5))
            bn.bias.copy_(torch.linspace(-1, 1, 5))
        part = x[rank::world_size].clone().requires_grad_()
        y = bn(part)
        # the loss of the whole batch is the mean over processes of each one's share
        (y * upstream[rank::world_size]).sum().backward()
        torch.save(dict(y=y.detach(), grad=part.grad, weight_grad=bn.weight.grad,
                        running_mean=bn.running_mean, running_var=bn.running_var),
                   os.path.join(out_dir, f'bn{rank}.pth'))
    finally:
        dist.destroy_process_group()
