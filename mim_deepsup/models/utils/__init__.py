from .ema_teacher import EMATeacher
from .frozen import FrozenModule
from .mim_state import MIMState
from .supervision import BaseSupervision

__all__ = ['BaseSupervision', 'EMATeacher', 'FrozenModule', 'MIMState']
