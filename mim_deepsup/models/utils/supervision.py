"""The interface every extra supervision component implements."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule

from .mim_state import MIMState


class BaseSupervision(BaseModule):
    """A loss term computed from one step's shared :class:`MIMState`.

    A subclass declares what it needs, so that the algorithm runs each pass once for all
    components:

    - ``required_taps``: block numbers (from 1) whose outputs it reads from ``state.taps``;
    - ``needs_teacher``: whether it reads ``state.teacher_tokens``;
    - ``needs_target``: whether it reads ``state.target`` (the algorithm's
      ``target_generator`` output);
    - ``algorithm_args``: constructor arguments the algorithm fills in when the config
      leaves them out, so that a config states them once: the backbone's ``num_layers``,
      ``embed_dims``, ``patch_size``, ``num_patches``; MAE's ``head`` config and the
      ``target_channels`` of its target generator (None if unknown); BEiT's ``num_embed``;
    - ``tap_layout``: ``'visible'`` if it reads MAE's taps of the visible tokens (with
      ``state.ids_restore``), ``'all'`` if it reads taps of every position (BEiT), None if
      either works; an algorithm refuses a component of the other layout.

    :meth:`loss` returns a dict whose keys start with ``'loss'`` (summed into the total by
    mmengine) or not (only logged). The algorithm prefixes them with the component's name.
    """

    required_taps: Tuple[int, ...] = ()
    needs_teacher: bool = False
    needs_target: bool = False
    algorithm_args: Tuple[str, ...] = ()
    tap_layout: Optional[str] = None

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        raise NotImplementedError(f'{type(self).__name__} must implement loss(state)')
