from .distance_map import distance_weights, patch_distances
from .ema_teacher import EMATeacher
from .exponent_schedule import DepthProgressExponent
from .frozen import FrozenModule
from .mim_state import MIMState
from .supervision import BaseSupervision
from .sync_batch_norm import AllReduceBatchNorm
from .view_masking import check_view_mask_ratio, disjoint_view_masks, mask_noise

__all__ = [
    'AllReduceBatchNorm', 'BaseSupervision', 'DepthProgressExponent', 'EMATeacher',
    'FrozenModule', 'MIMState', 'check_view_mask_ratio', 'disjoint_view_masks',
    'distance_weights', 'mask_noise', 'patch_distances'
]
