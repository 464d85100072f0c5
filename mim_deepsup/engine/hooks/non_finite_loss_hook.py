"""Stop training at the first non-finite loss, before anything is saved."""
import math
import os.path as osp

import torch
from mmengine.dist import all_reduce, get_comm_device, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """A loss term was NaN or infinite; training stopped at that iteration."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raises :class:`NonFiniteLossError` naming the loss terms and the iteration as soon
    as a logged loss is NaN or infinite.

    It reads the values mmengine's ``RuntimeInfoHook`` (priority ``VERY_HIGH``) has just
    converted to Python numbers for the message hub (under DDP it adds one 1-element
    all-reduce, so that every process stops when one does), and it runs before the hooks
    that save (``EMATeacherHook`` is ``ABOVE_NORMAL``, ``CheckpointHook`` ``VERY_LOW``):
    the iteration's corrupted weights are never written, and the last checkpoint on disk
    stays the last good one.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        values = {key: runner.message_hub.get_scalar(f'train/{key}').current()
                  for key in outputs}
        bad = {key: v for key, v in values.items() if not math.isfinite(v)}
        if not self._anywhere(bool(bad)):
            return
        # name the terms that went bad, not only the total they make
        terms = {k: v for k, v in bad.items() if k != 'loss'} or bad
        what = (', '.join(f'{k} = {v}' for k, v in terms.items()) if bad else
                'on another process (its gradients reached this one through DDP)')
        last = osp.join(runner.work_dir, 'last_checkpoint')
        kept = 'none saved yet'
        if osp.isfile(last):
            with open(last) as f:
                kept = f.read().strip()
        raise NonFiniteLossError(
            f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}): non-finite loss {what}'
            f'; training stopped before saving. Last good checkpoint: {kept}')

    @staticmethod
    def _anywhere(bad: bool) -> bool:
        """Whether any process saw a non-finite loss. Losses are per process, but DDP
        averages the gradients: one process's NaN reaches every process's weights, so all
        must stop, or the others would update the teacher and save the NaN weights (and then
        wait forever in a collective). One 1-element all-reduce per iteration."""
        if get_world_size() == 1:
            return bad
        flag = torch.tensor([float(bad)], device=get_comm_device())
        all_reduce(flag, op='max')
        return bool(flag.item())
