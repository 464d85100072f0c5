from .ema_teacher_hook import EMATeacherHook
from .progress_hook import TrainingProgressHook
from .random_state_hook import RandomStateHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = [
    'EMATeacherHook', 'RandomStateHook', 'TrainingProgressHook', 'WeightsOnlyCheckpointHook'
]
