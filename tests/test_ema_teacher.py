"""EMA teacher arithmetic."""
import math

import pytest
import torch
from torch import nn

from mim_deepsup.core import EMATeacher


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.backbone.register_buffer('count', torch.zeros(1))
        self.head = nn.Sequential(nn.Linear(2, 1))


def test_momentum_is_a_cosine_from_base_to_end():
    teacher = EMATeacher(Student(), base_momentum=0.996, end_momentum=1.0)
    assert teacher.momentum(0.0) == pytest.approx(0.996)
    assert teacher.momentum(0.5) == pytest.approx(0.998)
    assert teacher.momentum(1.0) == pytest.approx(1.0)
    assert teacher.momentum(0.25) == pytest.approx(1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2)


def test_update_is_m_teacher_plus_one_minus_m_student():
    student = Student()
    teacher = EMATeacher(student, sources=('backbone', 'head.0'), base_momentum=0.9)
    with torch.no_grad():
        student.backbone.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        teacher['backbone'].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, -1.0]]))
        student.head[0].bias.fill_(10.0)
        teacher['head.0'].bias.fill_(0.0)
        student.backbone.count.fill_(5.0)
    teacher.update(student, progress=0.0)  # m = 0.9
    expected = torch.tensor([[0.1, 0.2], [0.9 + 0.3, -0.9 + 0.4]])
    assert torch.allclose(teacher['backbone'].weight, expected)
    assert torch.allclose(teacher['head.0'].bias, torch.tensor([1.0]))
    assert teacher['backbone'].count.item() == 5.0  # buffers are copied, not averaged
    teacher.update(student, progress=1.0)  # m = 1: unchanged
    assert torch.allclose(teacher['backbone'].weight, expected)
    # m at t = 0.5 is 0.95
    teacher.update(student, progress=0.5)
    assert torch.allclose(teacher['head.0'].bias, torch.tensor([0.95 * 1.0 + 0.05 * 10.0]))


def test_teacher_has_no_gradients_stays_in_eval_and_can_be_reset():
    student = Student()
    teacher = EMATeacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher['backbone'].training
    with torch.no_grad():
        student.backbone.weight.add_(1.0)
    teacher.reset(student)
    assert torch.equal(teacher['backbone'].weight, student.backbone.weight)


def test_bad_configuration_names_the_key():
    with pytest.raises(ValueError, match='teacher.base_momentum'):
        EMATeacher(Student(), base_momentum=1.5)
    with pytest.raises(ValueError, match="teacher.sources.*'neck'"):
        EMATeacher(Student(), sources=('neck', ))
    with pytest.raises(ValueError, match='teacher.sources'):
        EMATeacher(Student(), sources='backbone')


def test_the_teacher_moves_at_the_published_progress_and_needs_its_hook():
    """One channel of progress: the teacher's momentum follows what set_progress published
    (TrainingProgressHook), and EMATeacherHook refuses to run without that hook."""
    from types import SimpleNamespace

    from mmengine.config import Config

    from mim_deepsup import config_path
    from mim_deepsup.engine.hooks.ema_teacher_hook import EMATeacherHook
    from mim_deepsup.engine.hooks.progress_hook import TrainingProgressHook
    from mim_deepsup.testing import build_model
    model = build_model(Config.fromfile(config_path('lut/lut_vit-tiny-p4_1xb32-20e_demo.py'))
                        .model)
    with pytest.raises(RuntimeError, match='no training progress was published'):
        model.update_teacher()
    teacher = model.teacher['backbone'].cls_token
    with torch.no_grad():
        model.backbone.cls_token.add_(1.0)
    before = teacher.detach().clone()
    model.set_progress(0.5)
    model.update_teacher()
    weight = 1 - model.teacher.momentum(0.5)
    torch.testing.assert_close(teacher, before + weight * (model.backbone.cls_token - before))
    runner = SimpleNamespace(model=model, hooks=[EMATeacherHook()])
    with pytest.raises(ValueError, match=r"custom_hooks: EMATeacherHook .* add "
                                         r"dict\(type='TrainingProgressHook'\)"):
        EMATeacherHook().before_train(runner)
    runner.hooks.append(TrainingProgressHook())
    EMATeacherHook().before_train(runner)
