"""What one training step's passes produced, handed to every component."""
from dataclasses import dataclass, field
from typing import Callable, Dict, Hashable, List, Optional, Tuple

import torch


@dataclass
class MIMState:
    """The shared state of one MIM training step (docs/methods.md, the shared step).

    Shapes: B images, N = h * w patches, K = N * (1 - mask_ratio) visible patches, C
    channels, V views of each image (1 unless a component asks for more, e.g. LUT's 2).

    With V > 1 the first view is the MIM view: ``inputs``, ``latent``, ``mask``,
    ``ids_restore``, ``taps``, ``teacher_tokens`` and ``target`` describe it alone, so a
    component written for one view works unchanged; ``view_latents`` and
    ``view_teacher_tokens`` hold every view (``view_latents[0]`` is ``latent``).

    Attributes:
        inputs: (B, 3, H, W) the preprocessed images the student saw.
        pixels: (B, 3, H, W) the images whose patches are the pixel heads' target:
            ``inputs``, or a target generator's images (PixMIM's low-frequency ones).
        mask: (B, N) float, 1 = patch removed (MAE's convention) or masked (BEiT).
        grid: (h, w) the backbone's patch grid.
        progress: training progress t in [0, 1), published by
            :class:`TrainingProgressHook`; None when nothing published it.
        latent: (B, 1 + K, C) the student's final-normed tokens, cls first (MAE; None for
            BEiT).
        ids_restore: (B, N) long, un-shuffles MAE's token order (None for BEiT).
        taps: block number (from 1) -> (B, 1 + K, C) raw output of that block (BEiT:
            (B, 1 + N, C), every position kept).
        teacher_tokens: (B, 1 + N, C) the EMA teacher's final-normed tokens on the unmasked
            images (BEiT: its last block's output), or None when no component asked for
            the teacher.
        target: the algorithm's ``target_generator`` output on ``inputs`` (no gradient), e.g.
            (B, N, D) features of a frozen network or HOG, or (B, N) BEiT-v2's codes; None
            without a target generator, or when it gives images (then in ``pixels``).
        data_samples: the batch's data samples.
        view_latents: (V, B, 1 + K, C) every view's final-normed tokens, from the same
            batched pass as ``latent`` (MAE; None for BEiT).
        view_teacher_tokens: (V, B, 1 + N, C) the teacher's tokens on every unmasked view,
            or None when no component asked for the teacher.
    """

    inputs: torch.Tensor
    mask: torch.Tensor
    grid: Tuple[int, int]
    progress: Optional[float] = None
    pixels: Optional[torch.Tensor] = None
    latent: Optional[torch.Tensor] = None
    ids_restore: Optional[torch.Tensor] = None
    taps: Dict[int, torch.Tensor] = field(default_factory=dict)
    teacher_tokens: Optional[torch.Tensor] = None
    target: Optional[torch.Tensor] = None
    data_samples: Optional[List] = None
    view_latents: Optional[torch.Tensor] = None
    view_teacher_tokens: Optional[torch.Tensor] = None
    _computed: Dict[Hashable, object] = field(default_factory=dict, repr=False)

    def once(self, key: Hashable, compute: Callable[[], object]):
        """``compute()`` the first time ``key`` is asked for in this step, the same value
        afterwards: a quantity several parts of the step read (MAE's pixel target, DDAE's
        distance map) is computed once. Keys name what they hold, e.g.
        ``('pixel_target', patch_size, norm_pix)``."""
        if key not in self._computed:
            self._computed[key] = compute()
        return self._computed[key]
