"""The protocol every supervision component implements, and its tap-list arguments."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from .state import MIMState
from .validation import check_int, check_numbers


class BaseSupervision(BaseModule):
    """A loss term computed from one step's shared :class:`MIMState`.

    A subclass declares what it needs, as class attributes (a property, or an attribute set
    in ``__init__``, where its config decides: ``required_taps``, DeepMIM's
    ``needs_target``), so that the algorithm, which reads them when it builds its
    components (``ComposableMixin._setup_supervisions``), runs each pass once for all
    components:

    - ``required_taps``: block numbers (from 1) whose outputs it reads from ``state.taps``;
    - ``needs_teacher``: whether it reads ``state.teacher_tokens`` (or
      ``state.view_teacher_tokens``);
    - ``teacher_modules``: names of its own submodules the EMA teacher also copies (e.g.
      LUT's ``'projector'``); :meth:`loss` receives the teacher's copies as its
      ``teacher`` argument (name -> module), which belong to the algorithm's ``teacher``;
    - ``required_views``: how many views of each image it reads (LUT: 2); the algorithm
      masks the views with disjoint visible sets and runs them as one batched pass;
    - ``needs_target``: whether it reads ``state.target`` (the algorithm's
      ``target_generator`` output);
    - ``algorithm_args``: constructor arguments the algorithm fills in when the config
      leaves them out, so that a config states them once: the backbone's ``num_layers``,
      ``embed_dims``, ``patch_size``, ``num_patches``, ``patch_grid``, ``layout``, the
      algorithm's ``head`` config; MAE's and MaskFeat's ``target_channels`` (None if
      unknown); BEiT's ``num_embed``;
    - ``tap_layout``: ``'visible'`` if it reads MAE's taps of the visible tokens (with
      ``state.ids_restore``), ``'all'`` if it reads taps of every position of a ViT (BEiT,
      MaskFeat), ``'swin'`` if it reads a Swin's stage maps (SimMIM), None if either ViT
      layout works; an algorithm refuses a component whose layout its taps do not hold.

    :meth:`loss` returns a dict whose keys start with ``'loss'`` (summed into the total by
    mmengine) or not (only logged). The algorithm prefixes them with the component's name.
    """

    required_taps: Tuple[int, ...] = ()
    needs_teacher: bool = False
    teacher_modules: Tuple[str, ...] = ()
    required_views: int = 1
    needs_target: bool = False
    algorithm_args: Tuple[str, ...] = ()
    tap_layout: Optional[str] = None

    def loss(self, state: MIMState,
             teacher: Dict[str, nn.Module]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError(f'{type(self).__name__} must implement loss(state, teacher)')


def default_taps(num_layers: int, fractions: Sequence[float]) -> Tuple[int, ...]:
    """The blocks at ``fractions`` of the depth, e.g. (1/2, 2/3, 5/6) of 12: 6, 8, 10."""
    return tuple(sorted({round(num_layers * f) for f in fractions} - {0}))


def check_taps(taps, num_layers: int, key: str = 'taps') -> Tuple[int, ...]:
    """Strictly increasing intermediate blocks, from 1 and below the last."""
    if isinstance(taps, (str, bytes)) or not isinstance(taps, Sequence) or not taps:
        raise TypeError(f'{key}: expected a non-empty list of blocks (ints from 1) such as '
                        f'[2, 4], got {taps!r}')
    taps = tuple(check_int(block, f'{key}[{i}]') for i, block in enumerate(taps))
    if not all(1 <= block < num_layers for block in taps):
        raise ValueError(f'{key}: expected blocks 1..{num_layers - 1} of this {num_layers}-'
                         f'block encoder (counted from 1; the last is the final decoder\'s), '
                         f'got {list(taps)}')
    if any(a >= b for a, b in zip(taps, taps[1:])):
        raise ValueError(f'{key}: expected strictly increasing blocks, got {list(taps)}')
    return taps


def per_tap(values, taps: Sequence[int], default: Sequence[float], key: str,
            **bounds) -> Tuple[float, ...]:
    """One number per tap (each within ``bounds``, those of ``check_number``), or
    ``default`` when ``values`` is None."""
    if values is None:
        return tuple(float(v) for v in default)
    return check_numbers(values, key, count=len(taps), **bounds)
