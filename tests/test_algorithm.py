"""The algorithm core: MAE equality, taps, supervision components, the teacher's pass."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mim_deepsup.algorithms import ComposableMAE
from mim_deepsup.core import BaseSupervision
from mim_deepsup.testing import TINY_MAE, build_model, manual_masked_pass


@MODELS.register_module(force=True)
class TapEnergy(BaseSupervision):
    """Test component: loss = weight * mean square of its taps (and of the teacher tokens)."""

    def __init__(self, taps=(2, 4), weight=1.0, use_teacher=False):
        super().__init__()
        self.required_taps = tuple(taps)
        self.needs_teacher = use_teacher
        self.weight = weight
        self.seen = []

    def loss(self, state, teacher):
        self.seen.append(state)
        losses = {f'loss_b{b}': self.weight * state.taps[b].pow(2).mean()
                  for b in self.required_taps}
        if self.needs_teacher:
            losses['teacher_mean'] = state.teacher_tokens.mean()
        return losses


def tiny_model_cfg(**changes):
    cfg = Config.fromfile(TINY_MAE)
    cfg.merge_from_dict(dict(model=changes))
    return cfg.model


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def images(batch=4, size=32, seed=1):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_equals_mmpretrain_mae_loss_and_gradients():
    ours = build(tiny_model_cfg())
    mae_cfg = tiny_model_cfg()
    mae_cfg.type = 'MAE'
    mae_cfg.backbone.type = 'MAEViT'
    mae_cfg.pop('supervisions')
    mae = MODELS.build(mae_cfg)
    assert type(mae).__name__ == 'MAE'
    mae.load_state_dict(ours.state_dict())
    x = images()

    results = []
    for model in (mae, ours):
        model.train()
        torch.manual_seed(123)  # same random mask
        losses = model.loss(x, [DataSample() for _ in range(len(x))])
        loss, _ = model.parse_losses(losses)
        model.zero_grad()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((losses, loss, grads))
    (mae_losses, mae_loss, mae_grads), (our_losses, our_loss, our_grads) = results
    assert list(our_losses) == list(mae_losses) == ['loss']
    assert torch.equal(our_loss, mae_loss)
    assert our_grads.keys() == mae_grads.keys() and len(our_grads) > 20
    for name in mae_grads:
        assert torch.equal(our_grads[name], mae_grads[name]), name


def test_backbone_state_dict_is_mae_vit():
    ours = build(tiny_model_cfg())
    mae_vit = MODELS.build(dict(tiny_model_cfg().backbone, type='MAEViT'))
    assert list(ours.backbone.state_dict()) == list(mae_vit.state_dict())


def test_taps_equal_a_manual_pass_through_the_blocks():
    backbone = build(tiny_model_cfg()).backbone
    backbone.eval()
    x = images()
    torch.manual_seed(7)
    noise = torch.rand(len(x), backbone.num_patches)  # MAE's draw
    given = torch.argsort(torch.argsort(noise, dim=1), dim=1)
    num_visible = int(backbone.num_patches * (1 - backbone.mask_ratio))
    (latent, mask, ids_restore), taps = backbone.forward_masked(x, given, num_visible,
                                                                (1, 3, 6))
    assert sorted(taps) == [1, 3, 6]

    manual_mask, manual_restore, manual = manual_masked_pass(backbone, x, seed=7)
    assert torch.equal(ids_restore, manual_restore)
    assert torch.equal(mask, manual_mask)
    for block in (1, 3, 6):
        assert torch.equal(taps[block], manual[block]), block
    assert torch.equal(latent, backbone.norm1(manual[6]))
    assert taps[1].shape == (4, 1 + 16, 64)  # 64 patches, 75% masked
    # hooks are removed afterwards: a plain forward records nothing more
    assert not backbone.layers[0]._forward_hooks


def test_bad_tap_names_the_key():
    cfg = tiny_model_cfg(supervisions=dict(bad=dict(type='TapEnergy', taps=(0, 7))))
    with pytest.raises(ValueError, match=r'required_taps.*block 0.*\[1, 6\]'):
        MODELS.build(cfg)


def test_components_share_one_student_and_one_teacher_pass():
    cfg = tiny_model_cfg(supervisions=dict(
        a=dict(type='TapEnergy', taps=(2, 4), use_teacher=True),
        b=dict(type='TapEnergy', taps=(4, ), weight=2.0)))
    model = build(cfg)
    assert model.taps == (2, 4) and model.needs_teacher
    calls = {'student': 0, 'teacher': 0}

    def count(name):
        def hook(module, args, output):
            calls[name] += 1
        return hook

    masked_pass = model.backbone.forward_masked

    def counted(*args):
        calls['student'] += 1
        return masked_pass(*args)
    model.backbone.forward_masked = counted
    model.teacher['backbone'].register_forward_hook(count('teacher'))
    x = images()
    torch.manual_seed(3)
    losses = model.loss(x, [DataSample() for _ in range(len(x))])
    assert calls == {'student': 1, 'teacher': 1}
    # with components MAE's own term is loss_mim: mmengine's logged `loss` is the total
    assert sorted(losses) == ['a_teacher_mean', 'loss_a_b2', 'loss_a_b4', 'loss_b_b4',
                              'loss_mim']
    state = model.supervisions['a'].seen[-1]
    assert state is model.supervisions['b'].seen[-1]
    assert state.teacher_tokens.shape == (4, 1 + 64, 64) and not state.teacher_tokens.requires_grad
    assert torch.allclose(losses['loss_b_b4'], 2 * losses['loss_a_b4'])
    # the taps carry gradients into the encoder; the teacher gets none
    total, log_vars = model.parse_losses(losses)
    assert 'a_teacher_mean' in log_vars
    expected = (losses['loss_mim'] + losses['loss_a_b2'] + losses['loss_a_b4']
                + losses['loss_b_b4'])
    assert torch.allclose(total, expected) and torch.equal(log_vars['loss'], total.detach())
    total.backward()
    assert model.backbone.layers[0].ffn.layers[1].weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())


def test_teacher_starts_as_a_copy_of_the_initialised_student_and_stays_in_eval():
    model = build(tiny_model_cfg(teacher=dict(type='EMATeacher', base_momentum=0.99)))
    for (name, s), t in zip(model.backbone.state_dict().items(),
                            model.teacher['backbone'].state_dict().values()):
        assert torch.equal(s, t), name
    model.train()
    assert model.backbone.training and not model.teacher['backbone'].training
    # saved in the algorithm's state dict
    assert any(k.startswith('teacher.ema.backbone.') for k in model.state_dict())


def test_not_a_supervision_is_refused():
    head = dict(type='MAEPretrainHead', patch_size=4,
                loss=dict(type='PixelReconstructionLoss', criterion='L2'))
    cfg = tiny_model_cfg(supervisions=dict(x=head))
    with pytest.raises(TypeError, match='model.supervisions.x.*not a BaseSupervision'):
        MODELS.build(cfg)
    with pytest.raises(TypeError, match='model.backbone: MAEViT records no taps'):
        MODELS.build(copy.deepcopy(tiny_model_cfg(backbone=dict(type='MAEViT'))))
    with pytest.raises(ValueError, match='model.supervisions.my_loss.*may not contain'):
        MODELS.build(tiny_model_cfg(supervisions=dict(my_loss=dict(type='TapEnergy'))))
    with pytest.raises(ValueError, match='model.teacher.sources: must include "backbone"'):
        MODELS.build(tiny_model_cfg(
            supervisions=dict(a=dict(type='TapEnergy', use_teacher=True)),
            teacher=dict(type='EMATeacher', sources=('neck', ))))
    with pytest.raises(ValueError, match=r'model.backbone.out_indices: must be \[-1\]'):
        MODELS.build(tiny_model_cfg(
            backbone=dict(out_indices=[2, 5]),
            supervisions=dict(a=dict(type='TapEnergy', use_teacher=True))))
    assert ComposableMAE is MODELS.get('ComposableMAE')


def test_what_a_component_takes_from_the_algorithm_is_logged(monkeypatch):
    """The arguments the algorithm fills in are the component's declared algorithm_args the
    config leaves out, and the build log says which, with their values."""
    import mim_deepsup.core.composable as composable
    from mim_deepsup import config_path
    logged = []
    monkeypatch.setattr(composable, 'print_log', lambda message, logger: logged.append(message))
    cfg = Config.fromfile(config_path('ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py')).model
    cfg.supervisions.ddae.num_patches = 64  # stated in the config: not the algorithm's
    build_model(cfg)
    assert logged == ["model.supervisions.ddae: DDAESupervision takes from the algorithm "
                      "num_layers=6, embed_dims=64, patch_size=4, layout='visible', "
                      "head=<MAEPretrainHead config>"]


def test_a_component_may_not_take_the_algorithms_own_loss_name():
    from mim_deepsup import config_path
    cfg = Config.fromfile(config_path('deepmim/deepmim_vit-tiny-p4_1xb32-20e_demo.py')).model
    cfg.supervisions = dict(mim=cfg.supervisions.deepmim)
    with pytest.raises(ValueError, match=r'model\.supervisions\.mim: its term loss_mim would '
                                         r"replace ComposableMAE's own"):
        build_model(cfg)
