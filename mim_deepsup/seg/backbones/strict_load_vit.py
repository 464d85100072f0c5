"""mmseg's MAE and BEiT backbones, loading their pretrained checkpoint strictly."""
from mmengine.logging import print_log
from mmseg.models.backbones import MAE, BEiT
from mmseg.registry import MODELS

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


@MODELS.register_module()
class StrictLoadBEiT(StrictPretrainedLoad, BEiT):
    """mmseg's ``BEiT`` backbone (UperNet) with a strictly checked pretrained load."""
