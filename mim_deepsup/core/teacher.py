"""An exponential-moving-average teacher shared by DDAE and LUT."""
import copy
import math
from typing import Sequence

import torch
from mmpretrain.registry import MODELS
from torch import nn

from .validation import check_bool, check_number


@MODELS.register_module()
class EMATeacher(nn.Module):
    """An EMA copy of parts of a student model: no gradients, always in eval mode.

    The copied parts are named by their attribute paths in the student (``'backbone'``,
    ``'supervisions.lut.projector'``, ...) and reached with ``teacher['backbone']``.

    Momentum follows a cosine from ``base_momentum`` to ``end_momentum`` over training
    (docs/methods.md, LUT: 0.996 -> 1, also used by DDAE)::

        m(t) = end - (end - base) * (cos(pi * t) + 1) / 2,    t in [0, 1]
        theta_teacher <- m(t) * theta_teacher + (1 - m(t)) * theta_student

    The update runs after each optimizer step (:class:`EMATeacherHook`); the teacher's
    weights are ordinary parameters of the algorithm, so checkpoints save them and resuming
    restores them exactly. Buffers (e.g. BatchNorm running statistics) are copied from the
    student, or, with ``average_buffers=True``, floating-point buffers are averaged with the
    same momentum and the others copied (the LUT authors' EMA averages every state-dict
    entry).

    Args:
        student (nn.Module): the algorithm the parts are copied from.
        sources (Sequence[str]): attribute paths of the parts to copy. Defaults to
            ('backbone', ).
        base_momentum (float): m at t = 0, in [0, 1]. Defaults to 0.996.
        end_momentum (float): m at t = 1, in [0, 1]. Defaults to 1.0.
        average_buffers (bool): average floating-point buffers instead of copying them.
            Defaults to False.
    """

    def __init__(self,
                 student: nn.Module,
                 sources: Sequence[str] = ('backbone', ),
                 base_momentum: float = 0.996,
                 end_momentum: float = 1.0,
                 average_buffers: bool = False) -> None:
        super().__init__()
        self.base_momentum = check_number(base_momentum, 'model.teacher.base_momentum', 0, 1)
        self.end_momentum = check_number(end_momentum, 'model.teacher.end_momentum', 0, 1)
        if isinstance(sources, str) or not sources or \
                not all(isinstance(path, str) for path in sources):
            raise ValueError(f'model.teacher.sources: expected a non-empty list of attribute '
                             f'paths, got {sources!r}')
        self.sources = tuple(sources)
        self.average_buffers = check_bool(average_buffers, 'model.teacher.average_buffers')
        self.ema = nn.ModuleDict({
            self._key(path): copy.deepcopy(self._source(student, path))
            for path in self.sources
        })
        self.ema.requires_grad_(False)
        self.ema.eval()

    @staticmethod
    def _key(path: str) -> str:
        return path.replace('.', '__')

    @staticmethod
    def _source(student: nn.Module, path: str) -> nn.Module:
        try:
            return student.get_submodule(path)
        except AttributeError:
            raise ValueError(f'teacher.sources: the student has no module {path!r}') from None

    def __getitem__(self, path: str) -> nn.Module:
        return self.ema[self._key(path)]

    def train(self, mode: bool = True) -> 'EMATeacher':
        """The teacher stays in eval mode whatever the student's mode."""
        return super().train(False)

    def momentum(self, progress: float) -> float:
        """m(t), the weight the teacher keeps at training progress t."""
        cosine = (math.cos(math.pi * progress) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.base_momentum) * cosine

    def _pairs(self, student: nn.Module):
        for path in self.sources:
            yield self[path], self._source(student, path)

    @torch.no_grad()
    def update(self, student: nn.Module, progress: float) -> None:
        """One EMA step towards ``student``'s current weights at training progress t."""
        weight = 1.0 - self.momentum(progress)
        for teacher, source in self._pairs(student):
            t_params = list(teacher.parameters())
            s_params = [p.detach() for p in source.parameters()]
            if t_params:  # a part may have no parameters (e.g. an identity projector)
                # theta_T + (1 - m) (theta_S - theta_T) = m theta_T + (1 - m) theta_S
                torch._foreach_lerp_(t_params, s_params, weight)
            for t_buf, s_buf in zip(teacher.buffers(), source.buffers()):
                if self.average_buffers and t_buf.is_floating_point():
                    t_buf.lerp_(s_buf, weight)
                else:
                    t_buf.copy_(s_buf)

    @torch.no_grad()
    def reset(self, student: nn.Module) -> None:
        """Make the teacher an exact copy of ``student``'s current weights."""
        for teacher, source in self._pairs(student):
            teacher.load_state_dict(source.state_dict())
