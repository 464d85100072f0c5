from .atomic_checkpoint_hook import AtomicCheckpointHook, last_complete_checkpoint
from .ema_teacher_hook import EMATeacherHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .online_knn_hook import OnlineKNNHook
from .progress_hook import TrainingProgressHook
from .random_state_hook import RandomStateHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = [
    'AtomicCheckpointHook', 'EMATeacherHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'OnlineKNNHook', 'RandomStateHook', 'TrainingProgressHook', 'WeightsOnlyCheckpointHook',
    'last_complete_checkpoint'
]
