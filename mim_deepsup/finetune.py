"""mmpretrain's VisionTransformer, refusing a pretrained checkpoint that does not fit it."""
import os.path as osp

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

# the fine-tuning ViT's pooled-feature norm (out_type='avg_featmap'): no pretraining
# encoder has it
NEW_BY_DESIGN = {'ln2.weight', 'ln2.bias'}
# the pretraining encoder's final norm, unused when fine-tuning with final_norm=False
UNUSED_BY_DESIGN = {'ln1.weight', 'ln1.bias'}


@MODELS.register_module()
class StrictLoadVisionTransformer(VisionTransformer):
    """:class:`VisionTransformer` whose ``Pretrained`` init checks the checkpoint's keys.

    mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs what did not
    fit, so a checkpoint of another architecture (e.g. a BEiT-v2 encoder, or a file that
    was not converted) fine-tunes a half-random model. Here every backbone key must come
    from the checkpoint and every checkpoint key (under ``prefix``) must be used, except
    the pooled-feature norm ``ln2`` (new) and the pretraining final norm ``ln1`` (unused
    when ``final_norm=False``). The keys are read from a memory map, so the check costs
    no second read of the weights.
    """

    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self._check_pretrained(self.init_cfg['checkpoint'], self.init_cfg.get('prefix'))
        super().init_weights()

    def _check_pretrained(self, path: str, prefix: str = None) -> None:
        if '://' in path:  # a URL: mmengine downloads it; nothing local to check
            return
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'model.backbone.init_cfg.checkpoint: {path}: no such file (the output of '
                f'tools/convert_checkpoint.py; the configs read it from PRETRAINED)')
        try:
            checkpoint = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
        except RuntimeError:  # mmap needs torch's zip format; an older file is read whole
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
        state = checkpoint.get('state_dict', checkpoint)
        keys = {k[len(prefix):] for k in state if k.startswith(prefix)} if prefix else set(state)
        own = set(self.state_dict())
        missing = sorted(own - keys - NEW_BY_DESIGN)
        unexpected = sorted(keys - own - UNUSED_BY_DESIGN)
        if missing or unexpected:
            raise ValueError(
                f'{type(self).__name__}: {path} does not fit the backbone '
                f'(prefix {prefix!r}): {len(missing)} missing keys {missing[:4]}, '
                f'{len(unexpected)} unexpected keys {unexpected[:4]}. Convert a pretraining '
                f'checkpoint with tools/convert_checkpoint.py (target mmpretrain); a BEiT '
                f'encoder needs a BEiT fine-tuning config.')
