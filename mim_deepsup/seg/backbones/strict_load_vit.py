"""mmseg's MAE and BEiT backbones, loading their pretrained checkpoint strictly."""
from unittest import mock

import numpy as np
from mmengine.logging import print_log
from mmseg.models.backbones import MAE, BEiT
from mmseg.registry import MODELS
from scipy import interpolate

from ...checkpoints.key_maps import missing_by_design


class StrictPretrainedLoad:
    """Checks what mmseg's ViT backbones load from ``pretrained``.

    mmseg's ``MAE`` and ``BEiT`` load the checkpoint's ``state_dict`` with
    ``strict=False`` and report nothing, so a checkpoint in the wrong names (e.g.
    mmpretrain's ``backbone.*``) silently loads nothing and the run fine-tunes from random
    weights. Here every checkpoint key must be a backbone key, and every backbone key must
    come from the checkpoint except those new by design (layer scale, relative position
    bias tables and index buffers: :func:`missing_by_design`), which are logged.
    """

    def load_state_dict(self, state_dict, strict=True, assign=False):
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if k not in missing_by_design(
            result.missing_keys)]
        if result.unexpected_keys or missing:
            source = (self.init_cfg or {}).get('checkpoint', 'the checkpoint')
            hint = (' It holds mmpretrain keys (backbone.*): convert it with '
                    '`python tools/convert_checkpoint.py SRC DST --target mmseg` and set '
                    'model.pretrained=DST.' if any(k.startswith('backbone.')
                                                   for k in result.unexpected_keys) else '')
            raise ValueError(
                f'{type(self).__name__}: {source} does not fit the backbone: '
                f'{len(result.unexpected_keys)} unexpected keys '
                f'{result.unexpected_keys[:4]}, {len(missing)} missing keys '
                f'{missing[:4]}.{hint}')
        new = sorted({k.split('.', 2)[-1] for k in result.missing_keys})
        print_log(f'{type(self).__name__}: loaded {len(state_dict)} tensors; new by design: '
                  f'{", ".join(new) or "none"}', logger='current')
        return result


@MODELS.register_module()
class StrictLoadMAE(StrictPretrainedLoad, MAE):
    """mmseg's ``MAE`` backbone (UperNet) with a strictly checked pretrained load."""


class CubicGridInterp2d:
    """``scipy.interpolate.interp2d(x, y, z, kind='cubic')`` for data on a full grid, which
    mmseg's BEiT uses to resize relative position bias tables and SciPy 1.14 removed.

    As SciPy's migration notes give it: an interpolating bicubic spline
    (``RectBivariateSpline``, s=0) over ``z.T``, since interp2d's ``z`` is indexed
    (y, x); calling it returns (len(y), len(x)) again.
    """

    def __init__(self, x, y, z, kind='cubic'):
        if kind != 'cubic':
            raise ValueError(f'CubicGridInterp2d: only kind="cubic", got {kind!r}')
        self.spline = interpolate.RectBivariateSpline(x, y, np.asarray(z).T, kx=3, ky=3, s=0)

    def __call__(self, x, y):
        return self.spline(x, y).T


@MODELS.register_module()
class StrictLoadBEiT(StrictPretrainedLoad, BEiT):
    """mmseg's ``BEiT`` backbone (UperNet) with a strictly checked pretrained load; a
    pretrained relative position bias table of another grid (224 px pretraining, 640 px
    segmentation) is resized by mmseg's own geometric interpolation, through
    :class:`CubicGridInterp2d` where SciPy no longer has ``interp2d``."""

    def init_weights(self):
        with mock.patch.object(interpolate, 'interp2d', CubicGridInterp2d):
            super().init_weights()
