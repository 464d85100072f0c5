"""Calling an algorithm's head loss: what the algorithms and the techniques share."""
import torch
from mmpretrain.registry import MODELS
from torch import nn

from .state import MIMState
from .validation import build


def pixel_target(state: MIMState, head: nn.Module) -> torch.Tensor:
    """MAE's pixel target of ``state.pixels`` for a pixel head, computed once per step for
    every head of the same patch size and normalisation.

    Args:
        state (MIMState): the step's state; ``state.pixels`` (B, 3, H, W).
        head (nn.Module): a pixel head with ``construct_target`` (``MAEPretrainHead``).

    Returns:
        torch.Tensor: (B, N, p * p * 3) the patches, normalised per patch if the head's
        ``norm_pix``.
    """
    key = ('pixel_target', head.patch_size, head.norm_pix)
    return state.once(key, lambda: head.construct_target(state.pixels))


class ReadsState:
    """Declares a head or head loss that reads the step's :class:`MIMState`: the algorithms
    call it with ``state=`` after mmpretrain's arguments (DDAE's distance-weighted losses,
    whose weights depend on the mask, the grid and the training progress)."""


def call_head_loss(owner: nn.Module, loss, *args, state: MIMState):
    """The one way every algorithm and technique calls a head's loss: ``loss(*args)``, with
    ``state=state`` when ``owner`` is a :class:`ReadsState`.

    Args:
        owner (nn.Module): the head or loss module whose class says whether it reads the
            state.
        loss (Callable): what to call: a method of ``owner`` (``head.loss``), or ``owner``.
        *args: mmpretrain's arguments of that loss (prediction, target, mask, ...).
        state (MIMState): the step's state.
    """
    if isinstance(owner, ReadsState):
        return loss(*args, state=state)
    return loss(*args)


def check_head_loss(head: dict) -> None:
    """Build the head's loss once on its own: mmpretrain's heads build it inside, where its
    errors would not know their key (``model.head.loss``).

    Args:
        head (dict): the head's config.
    """
    if isinstance(head.get('loss'), dict):
        build(MODELS, head['loss'], 'model.head.loss')
