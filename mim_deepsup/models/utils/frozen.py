"""A frozen, already trained network that supplies targets: no gradient, eval mode."""
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule


class FrozenModule(BaseModule):
    """Base of frozen target networks whose weights come from a local checkpoint file.

    A subclass builds its submodules, then calls :meth:`freeze`. The checkpoint's existence
    is checked when the model is built (a clear error naming ``key``); its weights are
    loaded by :meth:`init_weights`, i.e. after the algorithm's own initialisation (whose
    ``init_cfg`` would otherwise re-initialise them). They are saved in the algorithm's
    checkpoints like any weights, so resuming and ``load_from`` restore them too.

    Args:
        checkpoint (str, optional): local checkpoint file (a state dict, or a dict with
            ``state_dict``). Required unless ``random_weights``.
        random_weights (bool): keep the random initialisation instead (tests only): a
            frozen random network's output is no useful target.
        prefixes (dict, optional): our submodule name -> its key prefix in the checkpoint,
            e.g. ``dict(backbone='visual.', projection='visual_proj.')`` for mmpretrain's
            CLIP; by default each submodule's own name (``backbone.``).
        key (str): the config key named in error messages.
    """

    def __init__(self, checkpoint: Optional[str], prefixes: Optional[Dict[str, str]] = None,
                 key: str = 'checkpoint', random_weights: bool = False) -> None:
        super().__init__()
        if checkpoint is None and not random_weights:
            raise ValueError(f'{key}: required, a local file with the frozen model\'s weights '
                             f'(random_weights=True keeps random weights, for tests only)')
        if checkpoint is not None and random_weights:
            raise ValueError(f'{key}: give a checkpoint or random_weights=True, not both')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{key}: no such checkpoint file {checkpoint!r}; expected '
                                    f'a local file with the frozen model\'s weights')
        self.checkpoint = checkpoint
        self.prefixes = dict(prefixes or {})
        self.key = key

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'FrozenModule':
        """A frozen network stays in eval mode whatever the algorithm's mode."""
        return super().train(False)

    def init_weights(self) -> None:
        if self.checkpoint is None:
            super().init_weights()
            return
        try:
            ckpt = torch.load(self.checkpoint, map_location='cpu', weights_only=True)
        except Exception as e:  # a pickle that is not weights-only, not a checkpoint, ...
            raise ValueError(f'{self.key}: cannot load {self.checkpoint!r} as a weights-only '
                             f'checkpoint ({type(e).__name__}: {e})') from None
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f'{self.key}: {self.checkpoint!r} holds no state dict')
        ours = {}
        for name, _ in self.named_children():
            prefix = self.prefixes.get(name, f'{name}.')
            ours.update({f'{name}.{k[len(prefix):]}': v
                         for k, v in state.items() if k.startswith(prefix)})
        missing, _ = self.load_state_dict(ours, strict=False)
        if missing:
            used = {n: self.prefixes.get(n, f'{n}.') for n, _ in self.named_children()}
            raise ValueError(f'{self.key}: {self.checkpoint!r} lacks {len(missing)} weights of '
                             f'{type(self).__name__}, e.g. {missing[:3]} (key prefixes used: '
                             f'{used})')
        self._is_init = True
