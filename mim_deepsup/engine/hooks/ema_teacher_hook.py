"""Update the model's EMA teacher after each optimizer step."""
from contextlib import nullcontext

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

from .progress_hook import TrainingProgressHook, unwrap_model


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """Calls ``model.update_teacher()`` after each training iteration, i.e. after the
    optimizer step; the momentum follows the progress t that :class:`TrainingProgressHook`
    published for that iteration (the one channel of progress), which it therefore needs.

    It runs before :class:`CheckpointHook` (priority ``ABOVE_NORMAL`` vs ``VERY_LOW``), so a
    checkpoint taken at iteration i holds the teacher after its i-th update and resuming
    from it continues exactly. A model without a teacher is left alone. Under FSDP the
    student's parameters are shards between steps: the update runs on the gathered ones
    (``summon_full_params``; writeback keeps a sharded teacher's new values).
    """

    priority = 'ABOVE_NORMAL'

    def before_train(self, runner) -> None:
        if getattr(unwrap_model(runner.model), 'teacher', None) is None:
            return
        if not any(isinstance(hook, TrainingProgressHook) for hook in runner.hooks):
            raise ValueError("custom_hooks: EMATeacherHook updates the teacher at the "
                             "training progress TrainingProgressHook publishes; add "
                             "dict(type='TrainingProgressHook')")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = unwrap_model(runner.model)
        optim_wrapper = runner.optim_wrapper
        if hasattr(optim_wrapper, 'should_update') and not optim_wrapper.should_update():
            return  # gradient accumulation: the optimizer did not step in this iteration
        if getattr(model, 'teacher', None) is None:
            return
        gathered = (FSDP.summon_full_params(runner.model, writeback=True)
                    if isinstance(runner.model, FSDP) else nullcontext())
        with gathered:
            model.update_teacher()
