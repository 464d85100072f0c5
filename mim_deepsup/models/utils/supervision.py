"""The interface every extra supervision component implements."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from .mim_state import MIMState


class BaseSupervision(BaseModule):
    """A loss term computed from one step's shared :class:`MIMState`.

    A subclass declares what it needs, so that the algorithm runs each pass once for all
    components:

    - ``required_taps``: block numbers (from 1) whose outputs it reads from ``state.taps``;
    - ``needs_teacher``: whether it reads ``state.teacher_tokens`` (or
      ``state.view_teacher_tokens``);
    - ``teacher_modules``: names of its own submodules the EMA teacher also copies (e.g.
      LUT's ``'projector'``); the algorithm fills ``teacher_copies`` (name -> the teacher's
      copy) after building the teacher. The copies belong to the algorithm's ``teacher``,
      not to the component: ``teacher_copies`` is a plain dict, outside the state dict;
    - ``required_views``: how many views of each image it reads (LUT: 2); the algorithm
      masks the views with disjoint visible sets and runs them as one batched pass;
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
    teacher_modules: Tuple[str, ...] = ()
    teacher_copies: Dict[str, nn.Module] = {}
    required_views: int = 1
    needs_target: bool = False
    algorithm_args: Tuple[str, ...] = ()
    tap_layout: Optional[str] = None

    def loss(self, state: MIMState) -> Dict[str, torch.Tensor]:
        raise NotImplementedError(f'{type(self).__name__} must implement loss(state)')
