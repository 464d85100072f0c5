"""Keep Runner checkpoints loadable by ``torch.load(weights_only=True)``."""
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmpretrain.registry import HOOKS

_BUFFER_TAG = '__history_buffer__'


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Stores the message hub's state with tensors and plain Python values only.

    torch >= 2.6 loads checkpoints with ``weights_only=True``, and mmengine 0.10 calls
    ``torch.load`` without saying otherwise. Of what a Runner checkpoint holds, only the
    message hub is not weights-only loadable: its :class:`HistoryBuffer` objects pickle numpy
    arrays and, through ``getattr``, HistoryBuffer's statistics methods, and ``eta`` is a
    numpy scalar. Allow-listing ``getattr`` would let any file fetch any attribute of any
    allowed object, so instead this hook writes each buffer as tensors and numpy scalars as
    Python numbers before saving, and rebuilds the buffers after loading (before mmengine
    hands them to the message hub). Weights-only loading stays on and nothing is added to
    torch's safe globals; a test asserts the saved file needs no unsafe global.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if not hub:
            return
        hub['log_scalars'] = {
            key: {_BUFFER_TAG: True, 'max_length': buf.max_length,
                  'log_history': torch.from_numpy(np.asarray(buf._log_history, np.float64)),
                  'count_history': torch.from_numpy(np.asarray(buf._count_history, np.int64))}
            for key, buf in hub['log_scalars'].items()
        }
        hub['runtime_info'] = {key: value.item() if isinstance(value, np.generic) else value
                               for key, value in hub['runtime_info'].items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for key, value in scalars.items():
            if isinstance(value, dict) and value.get(_BUFFER_TAG):
                scalars[key] = HistoryBuffer(value['log_history'].tolist(),
                                             value['count_history'].tolist(),
                                             value['max_length'])
