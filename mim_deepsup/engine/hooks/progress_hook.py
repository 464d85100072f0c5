"""Publish training progress t = iteration / max_iterations to the model's components."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


def unwrap_model(model):
    """The algorithm inside a DDP/FSDP/... wrapper."""
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TrainingProgressHook(Hook):
    """Calls the algorithm's ``set_progress(t)`` before each training iteration, with
    ``t = runner.iter / runner.max_iters`` in [0, 1): the one channel of training progress
    (the algorithm hands it to its components in the step's state). The published t also
    reaches the EMA teacher's update: ``ComposableMixin.update_teacher``, which
    :class:`EMATeacherHook` calls after the optimizer step, reads it for the momentum.

    ``runner.iter`` is restored on resume, so the published t is correct after resuming.
    t is a Python float: publishing it costs no host-device synchronisation.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        set_progress = getattr(unwrap_model(runner.model), 'set_progress', None)
        self._listeners = [set_progress] if callable(set_progress) else []

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        progress = runner.iter / runner.max_iters
        for set_progress in self._listeners:
            set_progress(progress)
