"""Save the random number generators' state in checkpoints and restore it on resume."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Makes a resumed run draw the same masks and augmentations as an uninterrupted one.

    mmengine re-seeds at start-up but does not checkpoint the generators, so after a resume
    MAE's random masking (torch) and the main-process transforms (numpy, random) would draw
    other numbers than the uninterrupted run. This hook stores the torch (CPU and the
    current CUDA device), numpy and Python states under ``checkpoint['random_state']`` and
    restores them when a checkpoint is resumed. Only the main process saves: every process
    restores its states, which is exact when all processes share one seed (our MAE base:
    ``randomness.diff_rank_seed=False``). The numpy state is stored as a tensor so that
    weights-only loading needs no extra allow-listed type. Dataloader workers are seeded by
    mmengine per worker, not restored: with ``num_workers > 0`` augmentations of a resumed
    epoch may differ.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
        checkpoint['random_state'] = dict(
            torch=torch.get_rng_state(),
            # this process's device only: restoring rank 0's states of every device on
            # rank r would reset rank r's own device to a state rank 0 never used
            cuda=torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=pos,
                       has_gauss=has_gauss, cached_gaussian=cached_gaussian),
            python=random.getstate())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('random_state')
        if state is None:
            return
        torch.set_rng_state(state['torch'])
        cuda = state['cuda']
        if isinstance(cuda, list) and cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda)  # checkpoints written before this hook's fix
        elif isinstance(cuda, torch.Tensor) and torch.cuda.is_available():
            torch.cuda.set_rng_state(cuda)  # onto this process's current device
        n = state['numpy']
        np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32), n['pos'],
                             n['has_gauss'], n['cached_gaussian']))
        random.setstate(state['python'])
