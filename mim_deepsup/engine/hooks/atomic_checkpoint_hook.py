"""Checkpoints that a kill at any moment cannot leave half-written or missing."""
import glob
import logging
import os
import os.path as osp
import pickle
import re
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from ...fileio import atomic_write

_PARTIAL = '.partial-'  # fileio.atomic_write's files still being written
_STEP_NAME = re.compile(r'(epoch|iter)_(\d+)\.pth')  # mmengine's default checkpoint names
_OUTDATED = 'outdated_ckpt_ids'  # message hub: steps to delete once the newer save is whole


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`CheckpointHook` with saves that survive SIGKILL at any moment.

    mmengine 0.10 deletes the oldest checkpoint (``max_keep_ckpts``) before it writes the
    new one, writes the new one in place, then rewrites ``last_checkpoint`` in place: a kill
    during a save can leave a truncated checkpoint, no complete one at all (with
    ``max_keep_ckpts=1``), or a ``last_checkpoint`` naming a deleted or partial file. Here,
    in a local folder, (1) every checkpoint the hook saves goes through
    :class:`~mim_deepsup.fileio.AtomicLocalBackend`: written beside its place as a
    ``.partial-*`` file and renamed into it; (2) ``last_checkpoint`` is replaced
    atomically after the checkpoint is whole; (3) only then are checkpoints beyond
    ``max_keep_ckpts`` deleted. At every moment the folder holds the previous complete
    checkpoint or the new one, and ``last_checkpoint`` names a complete file (the writes
    are fsynced, so this holds after a machine crash too). Best checkpoints (``save_best``)
    are written atomically as well, but mmengine deletes the previous best before writing
    the new one; files published with ``published_keys`` are written by mmengine as they
    are. A killed run's ``.partial-*`` files, and the outdated checkpoints it had not
    deleted yet (recorded in the checkpoint it resumes from), are removed when training
    starts again.

    All arguments are CheckpointHook's. Remote ``backend_args`` and strategies that save
    directories (DeepSpeed, FSDP sharded) keep CheckpointHook's behaviour.
    :func:`last_complete_checkpoint` finds where to resume.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        # a plain local folder, a Runner (FlexibleRunner's strategies save on their own)
        self.atomic = (isinstance(self.file_backend, LocalBackend)
                       and not hasattr(runner, 'strategy'))
        if not self.atomic:
            return
        self.backend_args = dict(self.backend_args or {}, backend='local_atomic')
        self.file_backend = get_file_backend(self.out_dir, backend_args=self.backend_args)
        if is_main_process():
            # files of ours a kill left half-written: checkpoints (in filename_tmpl's
            # folder too) and last_checkpoint
            folders = {self.out_dir, runner.work_dir,
                       osp.dirname(osp.join(self.out_dir, self.filename_tmpl))}
            for folder in folders:
                for path in glob.glob(osp.join(glob.escape(folder), _PARTIAL + '*')):
                    if osp.isfile(path):
                        os.remove(path)
            # outdated checkpoints a killed run had not deleted yet
            self._delete(runner.message_hub.get_info(_OUTDATED, []))
        runner.message_hub.update_info(_OUTDATED, [])

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self.atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        name = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, name)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        outdated = self._keep(runner, step)  # before saving: the checkpoint records it
        runner.save_checkpoint(  # Runner: only the main process writes
            self.out_dir, name, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)
        runner.message_hub.update_info(_OUTDATED, [])
        if is_main_process():
            atomic_write(osp.join(runner.work_dir, 'last_checkpoint'),
                         lambda f: f.write(self.last_ckpt.encode()))
            self._delete(outdated)

    def _keep(self, runner, step: int) -> List[int]:
        """CheckpointHook's ``keep_ckpt_ids`` bookkeeping (mmengine 0.10,
        ``_save_checkpoint_with_step``) without its deletion: returns the steps that fall
        out of ``max_keep_ckpts``, which the checkpoint being saved records as pending."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        runner.message_hub.update_info(_OUTDATED, outdated)
        return outdated

    def _delete(self, steps: List[int]) -> None:
        for step in steps:
            path = osp.join(self.out_dir, self.filename_tmpl.format(step))
            if osp.isfile(path):
                os.remove(path)


def _is_runner_checkpoint(path: str) -> bool:
    """Whether ``path`` opens as a complete Runner checkpoint: the zip archive is whole and
    its pickle (read weights-only, tensors memory-mapped, not read) has meta and weights.
    A whole file that weights-only loading refuses is an error, not a file to skip."""
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f'--resume auto: {path} is a complete file that weights-only loading refuses '
            f'(written without WeightsOnlyCheckpointHook, or not ours); resume from it '
            f'explicitly only if you trust it, or remove it') from e
    except (RuntimeError, EOFError, OSError):  # truncated, empty, not a zip archive
        return False
    return isinstance(ckpt, dict) and 'meta' in ckpt and 'state_dict' in ckpt


def _newest_first(path: str):
    """Sort key: modification time, then the step in ``epoch_N``/``iter_N`` names."""
    step = _STEP_NAME.fullmatch(osp.basename(path))
    return os.stat(path).st_mtime_ns, int(step.group(2)) if step else -1


def last_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume auto`` should continue from, or None to start afresh.

    Candidates are the file ``<work_dir>/last_checkpoint`` names and the ``epoch_N.pth`` /
    ``iter_N.pth`` files beside it and in ``work_dir``; the newest (modification time, then
    step) that opens as a complete Runner checkpoint wins, and any newer one that does not
    is skipped with a warning. mmengine's own lookup trusts ``last_checkpoint`` blindly,
    which a kill during mmengine's non-atomic save can leave naming a truncated or deleted
    file. A ``last_checkpoint`` naming a remote file (``s3://...``) or a directory
    (DeepSpeed) is returned as it is, as mmengine does.
    """
    named = ''
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
    if '://' in named or osp.isdir(named):
        return named
    candidates = {named} if named and osp.isfile(named) else set()
    for folder in {work_dir, osp.dirname(named) if named else work_dir}:
        if osp.isdir(folder):
            candidates |= {osp.join(folder, name) for name in os.listdir(folder)
                           if _STEP_NAME.fullmatch(name)}
    for path in sorted(candidates, key=_newest_first, reverse=True):
        if _is_runner_checkpoint(path):
            return path
        print_log(f'--resume auto: skipping {path}, which is not a complete checkpoint '
                  f'(truncated or not a Runner checkpoint)', logger='current',
                  level=logging.WARNING)
    return None
