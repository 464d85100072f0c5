"""DDAE's schedule of the distance exponent g over depth and training progress."""
from mmpretrain.registry import MODELS

from ...validation import check_number


@MODELS.register_module()
class DepthProgressExponent:
    """g(depth, t): the exponent of DDAE's distance weights ``w_j = d_j ** g`` (ours: the
    authors published no formula; METHODS.md, DDAE)::

        g(depth, t) = ramp(t) * (shallow + (deep - shallow) * depth)
        ramp(t)     = clip((t - start) / (end - start), 0, 1)

    ``depth`` = supervised block / number of blocks, in (0, 1] (1 = the final output);
    ``t`` = training progress in [0, 1] (:class:`TrainingProgressHook`).

    Why this default (shallow = 1, deep = -1, ramp over the whole run): at t = 0, g = 0
    everywhere, so training starts as MAE; as t grows, shallow supervised layers (g > 0)
    weight far, hard patches more, which need context from across the image, and deep
    layers (g < 0) weight patches next to visible ones more: the paper's "more locality
    inductive bias, especially in deep layers". ViT-B with taps 4, 8 and the final block 12:
    g = t/3, -t/3 and -t.

    Args:
        shallow (float): g at depth 0 once the ramp is complete.
        deep (float): g at depth 1 once the ramp is complete.
        start (float): progress where g starts to move from 0.
        end (float): progress where the ramp is complete (> start).
    """

    def __init__(self, shallow: float = 1.0, deep: float = -1.0, start: float = 0.0,
                 end: float = 1.0) -> None:
        self.shallow = check_number(shallow, 'shallow')
        self.deep = check_number(deep, 'deep')
        self.start = check_number(start, 'start', minimum=0)
        self.end = check_number(end, 'end')
        if not self.start < self.end:
            raise ValueError(f'start, end: expected 0 <= start < end, got {start}, {end}')

    def __call__(self, depth: float, progress: float) -> float:
        ramp = min(1.0, max(0.0, (progress - self.start) / (self.end - self.start)))
        return ramp * (self.shallow + (self.deep - self.shallow) * depth)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(shallow={self.shallow}, deep={self.deep}, '
                f'start={self.start}, end={self.end})')
