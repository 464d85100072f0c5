"""mmseg's MAE and BEiT backbones, loading their pretrained checkpoint strictly."""
from unittest import mock

import numpy as np
from mmengine.logging import print_log
from mmseg.models.backbones import MAE, BEiT
from mmseg.registry import MODELS
from scipy import interpolate


class StrictPretrainedLoad:
    """Checks what mmseg's ViT backbones load from ``pretrained``.

    mmseg's ``MAE`` and ``BEiT`` load the checkpoint's ``state_dict`` with
    ``strict=False`` and report nothing, so a checkpoint in the wrong names (e.g.
    mmpretrain's ``backbone.*``) silently loads nothing and the run fine-tunes from random
    weights. Here every checkpoint key must be a backbone key, and every backbone key must
    come from the checkpoint except the layer parts in ``new_by_design``, which are logged.
    """

    #: parts of ``layers.N`` that a converted encoder does not carry
    new_by_design = ('attn.relative_position_index', )

    def _mismatch(self, unexpected, missing) -> ValueError:
        source = (self.init_cfg or {}).get('checkpoint', 'the checkpoint')
        if any(k.startswith('backbone.') for k in unexpected):
            hint = (' It holds mmpretrain keys (backbone.*): convert it with `python '
                    'tools/convert_checkpoint.py SRC DST --target mmseg` and set '
                    'model.pretrained=DST.')
        elif any(k.endswith('attn.q_bias') for k in unexpected):
            hint = ' It holds a BEiT encoder (q_bias, v_bias): use StrictLoadBEiT.'
        else:
            hint = ''
        return ValueError(f'{type(self).__name__}: {source} does not fit the backbone: '
                          f'{len(unexpected)} unexpected keys {unexpected[:4]}, '
                          f'{len(missing)} missing keys {missing[:4]}.{hint}')

    def resize_rel_pos_embed(self, checkpoint):
        """mmseg's resize, after checking the tables it resizes are ours (mmseg would
        fail with a bare KeyError on a table of another name)."""
        state = checkpoint.get('state_dict', checkpoint)
        own = self.state_dict()
        foreign = [k for k in state if 'relative_position_bias_table' in k and k not in own]
        if foreign:
            raise self._mismatch(foreign, [])
        return super().resize_rel_pos_embed(checkpoint)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        designed = {f'layers.{i}.{part}' for i in range(len(self.layers))
                    for part in self.new_by_design}
        missing = [k for k in result.missing_keys if k not in designed]
        if result.unexpected_keys or missing:
            raise self._mismatch(result.unexpected_keys, missing)
        new = sorted({k.split('.', 2)[-1] for k in result.missing_keys})
        print_log(f'{type(self).__name__}: loaded {len(state_dict)} tensors; new by design: '
                  f'{", ".join(new) or "none"}', logger='current')
        return result


@MODELS.register_module()
class StrictLoadMAE(StrictPretrainedLoad, MAE):
    """mmseg's ``MAE`` backbone (UperNet) with a strictly checked pretrained load. New by
    design for a converted MAE encoder: layer scale (``init_values``; 1.0 in the MAE
    UperNet configs, an identity) and relative position bias tables (zeros in mmseg's
    MAE), besides the index buffers."""

    new_by_design = ('gamma_1', 'gamma_2', 'attn.relative_position_bias_table',
                     'attn.relative_position_index')


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
