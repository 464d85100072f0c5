"""What one training step's passes produced, handed to every supervision component."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch


@dataclass
class MIMState:
    """The shared state of one MIM training step (see ../shared/DESIGN.md).

    Shapes: B images, N patches, K = N * (1 - mask_ratio) visible patches, C channels,
    V views of each image (1 unless a component asks for more, e.g. LUT's 2).

    With V > 1 the first view is the MIM view: ``inputs``, ``latent``, ``mask``,
    ``ids_restore``, ``taps``, ``teacher_tokens`` and ``target`` describe it alone, so a
    component written for one view works unchanged; ``view_latents`` and
    ``view_teacher_tokens`` hold every view (``view_latents[0]`` is ``latent``).

    Attributes:
        inputs: (B, 3, H, W) the preprocessed images the student saw.
        latent: (B, 1 + K, C) the student's final-normed tokens, cls first (MAE; None for
            BEiT).
        mask: (B, N) float, 1 = patch removed (MAE's convention) or masked (BEiT).
        ids_restore: (B, N) long, un-shuffles MAE's token order (None for BEiT).
        taps: block number (from 1) -> (B, 1 + K, C) raw output of that block (BEiT:
            (B, 1 + N, C), every position kept).
        teacher_tokens: (B, 1 + N, C) the EMA teacher's final-normed tokens on the unmasked
            images, or None when no component asked for the teacher.
        target: the algorithm's ``target_generator`` output on ``inputs`` (no gradient), e.g.
            (B, N, D) features of a frozen network, or None without a target generator.
        progress: training progress t in [0, 1] from :class:`TrainingProgressHook`.
        data_samples: the batch's data samples.
        view_latents: (V, B, 1 + K, C) every view's final-normed tokens, from the same
            batched pass as ``latent`` (MAE; None for BEiT).
        view_teacher_tokens: (V, B, 1 + N, C) the teacher's tokens on every unmasked view,
            or None when no component asked for the teacher.
    """

    inputs: torch.Tensor
    latent: Optional[torch.Tensor]
    mask: torch.Tensor
    ids_restore: Optional[torch.Tensor]
    taps: Dict[int, torch.Tensor] = field(default_factory=dict)
    teacher_tokens: Optional[torch.Tensor] = None
    target: Optional[torch.Tensor] = None
    progress: float = 0.0
    data_samples: Optional[List] = None
    view_latents: Optional[torch.Tensor] = None
    view_teacher_tokens: Optional[torch.Tensor] = None
