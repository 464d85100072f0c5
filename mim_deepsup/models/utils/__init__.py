from .ema_teacher import EMATeacher
from .mim_state import MIMState
from .supervision import BaseSupervision

__all__ = ['BaseSupervision', 'EMATeacher', 'MIMState']
