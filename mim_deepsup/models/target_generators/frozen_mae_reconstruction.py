"""The reconstruction of a frozen, already pretrained MAE (DeepMIM's hybrid target)."""
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmpretrain.registry import MODELS

from ...validation import check_dict, check_file
from ..utils import FrozenModule, MIMState


@MODELS.register_module()
class FrozenMAEReconstruction(FrozenModule):
    """A frozen MAE's reconstruction of the student's masked images.

    The frozen encoder sees exactly the student's visible patches (the student's
    ``ids_restore`` replayed through :class:`TappedMAEViT`), and its decoder predicts every
    patch. DeepMIM mixes it with the raw target for the auxiliary decoders (METHODS.md,
    DeepMIM, hybrid target). The frozen MAE is assumed to be trained with ``norm_pix`` like
    the student, so its output is in the same per-patch normalised space as the raw target.

    Args:
        model (str | dict): the frozen MAE's model config (its ``backbone`` and ``neck``
            are built), or the path of a config file holding it (``mmpretrain::`` allowed).
        checkpoint (str): its weights (``backbone.*``, ``neck.*`` keys, as mmpretrain's MAE
            and our checkpoints have them).
        random_weights (bool): no checkpoint, random weights (tests only).
    """

    def __init__(self, model: Union[str, dict], checkpoint: Optional[str] = None,
                 random_weights: bool = False, key: str = 'hybrid') -> None:
        super().__init__(checkpoint, key=f'{key}.checkpoint', random_weights=random_weights)
        if isinstance(model, str):  # a config file, or a package's ('mmpretrain::...')
            if '::' not in model:
                check_file(model, f'{key}.model', 'config file')
            model = (get_config(model) if '::' in model else Config.fromfile(model)).model
        check_dict(model, f'{key}.model', "an MAE model config (a dict with 'backbone' "
                   "and 'neck') or the path of a config file", allow_none=False)
        if 'backbone' not in model or 'neck' not in model:
            raise ValueError(f'{key}.model: expected an MAE model config with a backbone and '
                             f'a neck (its decoder), got keys {sorted(model)}')
        # whether its reconstruction is in norm_pix space (MAEPretrainHead's default: no)
        self.norm_pix = bool(model.get('head', {}).get('norm_pix', False))
        backbone = dict(model['backbone'])
        if backbone.get('type') in ('MAEViT', 'mmpretrain.MAEViT'):
            backbone['type'] = 'TappedMAEViT'  # same weights; can replay a given mask
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(model['neck'])
        if not hasattr(self.backbone, 'forward_taps'):
            raise TypeError(f'{key}.model.backbone: {type(self.backbone).__name__} cannot '
                            f'replay the student\'s mask; use an MAEViT')
        self.freeze()

    @torch.no_grad()
    def forward(self, state: MIMState) -> torch.Tensor:
        """(B, N, p * p * 3): the frozen MAE's prediction of every patch."""
        num_visible = state.latent.shape[1] - 1  # K, from shapes (no host sync)
        (latent, _, ids_restore), _ = self.backbone.forward_taps(
            state.inputs, (), ids_restore=state.ids_restore, num_visible=num_visible)
        return self.neck(latent, ids_restore)  # (B, N, p * p * 3)
