"""Checkpoints that a kill at any moment cannot leave half-written or missing."""
import glob
import os
import os.path as osp
import re
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from ...fileio import atomic_write

_PARTIAL = '.partial-'  # prefix of files still being written (fileio.atomic_write's too)
_STEP_NAME = re.compile(r'(epoch|iter)_\d+\.pth')  # mmengine's default checkpoint names
_OUTDATED = 'outdated_ckpt_ids'  # message hub: steps to delete once the newer save is whole


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`CheckpointHook` with saves that survive SIGKILL at any moment.

    mmengine 0.10 deletes the oldest checkpoint (``max_keep_ckpts``) before it writes the
    new one, writes the new one in place, then rewrites ``last_checkpoint`` in place: a kill
    during a save can leave a truncated checkpoint, no complete one at all (with
    ``max_keep_ckpts=1``), or a ``last_checkpoint`` naming a deleted or partial file. Here a
    save (1) writes ``.partial-<name>`` and renames it to ``<name>``, (2) then replaces
    ``last_checkpoint`` atomically, (3) and only then deletes checkpoints beyond
    ``max_keep_ckpts``. At every moment the directory holds the previous complete checkpoint
    or the new one, and ``last_checkpoint`` names a complete file. A killed run's leftover
    ``.partial-`` files, and the outdated checkpoints it had not deleted yet (recorded in
    the checkpoint it resumes from), are removed when training starts again. All arguments are
    CheckpointHook's; saves to a non-local backend (``backend_args``) are left to
    CheckpointHook. :func:`last_complete_checkpoint` finds where to resume.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if isinstance(self.file_backend, LocalBackend) and is_main_process():
            for path in glob.glob(osp.join(glob.escape(self.out_dir), _PARTIAL + '*')):
                os.remove(path)
            # outdated checkpoints a killed run had not deleted yet (recorded in the resumed
            # checkpoint, which was written before them being deleted)
            self._delete(runner, runner.message_hub.get_info(_OUTDATED, []))

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        name = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, name)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        outdated = self._keep(runner, step)  # before saving: the checkpoint records it
        runner.save_checkpoint(  # a no-op on all but the main process
            self.out_dir, _PARTIAL + name, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        os.replace(osp.join(self.out_dir, _PARTIAL + name), self.last_ckpt)
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'),
                     lambda f: f.write(self.last_ckpt.encode()))
        self._delete(runner, outdated)

    def _keep(self, runner, step: int) -> List[int]:
        """Record ``step`` among the kept checkpoints (as CheckpointHook does) and return
        the steps that fall out of ``max_keep_ckpts``: to delete after the save, and
        recorded as pending deletion in the checkpoint being saved."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = runner.message_hub.get_info(_OUTDATED, [])
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated = outdated + [self.keep_ckpt_ids.popleft()]
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        runner.message_hub.update_info(_OUTDATED, outdated)
        return outdated

    def _delete(self, runner, steps: List[int]) -> None:
        for step in steps:
            path = osp.join(self.out_dir, self.filename_tmpl.format(step))
            if osp.isfile(path):
                os.remove(path)
        runner.message_hub.update_info(_OUTDATED, [])


def _is_runner_checkpoint(path: str) -> bool:
    """Whether ``path`` opens as a complete Runner checkpoint: the zip archive is whole and
    its pickle (read weights-only, tensors memory-mapped, not read) has meta and weights."""
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:  # truncated, empty, not a checkpoint, unsafe pickle: not resumable
        return False
    return isinstance(ckpt, dict) and 'meta' in ckpt and 'state_dict' in ckpt


def last_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume auto`` should continue from, or None to start afresh.

    Candidates are the file ``<work_dir>/last_checkpoint`` names and the ``epoch_N.pth`` /
    ``iter_N.pth`` files beside it and in ``work_dir``; the newest (by modification time)
    that opens as a complete Runner checkpoint wins. mmengine's own lookup trusts
    ``last_checkpoint`` blindly, which a kill during mmengine's non-atomic save can leave
    naming a truncated or deleted file; and a kill between our rename and the update of
    ``last_checkpoint`` leaves a newer complete checkpoint than the one it names.
    """
    named = ''
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
    candidates = {named} if named and osp.isfile(named) else set()
    for folder in {work_dir, osp.dirname(named) if named else work_dir}:
        if osp.isdir(folder):
            candidates |= {osp.join(folder, name) for name in os.listdir(folder)
                           if _STEP_NAME.fullmatch(name)}
    for path in sorted(candidates, key=osp.getmtime, reverse=True):
        if _is_runner_checkpoint(path):
            return path
        print_log(f'--resume auto: skipping {path}, which is not a complete checkpoint '
                  f'(truncated or unreadable)', logger='current')
    return None
