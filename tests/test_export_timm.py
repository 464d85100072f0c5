"""Exporting an encoder to timm: safetensors in timm's ViT names, loaded with strict keys,
the same features as our backbone."""
import pytest
import timm
import torch
from mmengine.config import Config
from safetensors import safe_open

from mim_deepsup import config_path
from mim_deepsup.checkpoints import convert_checkpoint
from mim_deepsup.testing import build_model
from tools.convert_checkpoint import main as convert_tool

TINY_LUT = 'lut/lut_vit-tiny-p4_1xb32-20e_demo.py'
BASE_LUT = 'lut/lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'
# BEiT-v2 with an EMA teacher: DDAE on BEiT-v2
TINY_BEIT = 'ddae/ddae_beitv2_vit-tiny-p4_1xb32-20e_demo.py'
BASE_BEIT = 'ddae/ddae_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'


def saved_model(name, path, img_size):
    """A model of config ``name`` with random weights, the teacher unlike the student,
    saved as the Runner does (with the config, which tells num_heads)."""
    cfg = Config.fromfile(config_path(name))
    if 'init_cfg' in cfg.model.get('target_generator', {}):  # BEiT-v2's tokenizer: random
        cfg.model.target_generator.init_cfg = None  # weights, not downloaded
    model = build_model(cfg.model).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # weights far from their init, LayerNorms included
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)
    x = torch.randn(2, 3, img_size, img_size, generator=generator)
    return model, x


def timm_features(dst, report, x):
    name, kwargs = report['timm']
    vit = timm.create_model(name, pretrained=True, **kwargs,
                            pretrained_cfg_overlay=dict(file=dst, num_classes=0)).eval()
    assert vit.state_dict().keys() == set(report['kept'])  # nothing left at its init
    with torch.no_grad():
        return vit.forward_features(x)


@pytest.mark.parametrize('name,img_size', [
    pytest.param(TINY_LUT, 32, id='tiny'),
    pytest.param(BASE_LUT, 224, id='vit-b', marks=pytest.mark.slow),
    pytest.param(TINY_BEIT, 32, id='beit-tiny'),
    pytest.param(BASE_BEIT, 224, id='beit-b', marks=pytest.mark.slow)])
def test_timm_loads_the_encoder_with_our_features(tmp_path, name, img_size):
    model, x = saved_model(name, tmp_path / 'epoch_1.pth', img_size)
    outputs = {}
    for source, backbone in [('student', model.backbone),
                             ('teacher', model.teacher['backbone'])]:
        dst = str(tmp_path / f'{source}.safetensors')
        report = convert_checkpoint(str(tmp_path / 'epoch_1.pth'), dst, 'timm', source)
        with torch.no_grad():
            ours = backbone(x, mask=None)[-1]  # (B, 1 + N, C): class token first
        outputs[source] = timm_features(dst, report, x)
        assert outputs[source].shape == ours.shape
        assert (outputs[source] - ours).abs().max() <= 1e-5
    assert (outputs['student'] - outputs['teacher']).abs().max() > 1e-2  # two encoders
    if name == BASE_LUT:  # a standard size: timm's own name, nothing to override
        assert report['timm'] == ('vit_base_patch16_224', {})
    if name == BASE_BEIT:  # BEiT-v2 pretrains with one relative position table, no final
        # norm: timm's Beit with a shared table, its pooled-feature norm at initial values
        assert report['timm'] == ('beitv2_base_patch16_224', dict(
            use_shared_rel_pos_bias=True, use_rel_pos_bias=False))
        assert report['added'] == ['fc_norm.bias', 'fc_norm.weight']
        assert {'backbone.mask_token', 'backbone.rel_pos_bias.relative_position_index'} <= set(
            report['dropped'])


def test_the_file_says_what_it_is_and_the_tool_prints_the_timm_call(tmp_path, capsys):
    saved_model(TINY_LUT, tmp_path / 'epoch_1.pth', 32)
    dst = str(tmp_path / 'enc.safetensors')
    assert convert_tool([str(tmp_path / 'epoch_1.pth'), dst, '--target', 'timm']) == 0
    out = capsys.readouterr().out
    assert ("timm.create_model('vit_base_patch16_224', pretrained=True, embed_dim=64, "
            "depth=6, num_heads=4, patch_size=4, img_size=32, pretrained_cfg_overlay="
            f"dict(file='{dst}', num_classes=0))") in out
    with safe_open(dst, 'pt') as f:
        meta, keys = f.metadata(), set(f.keys())
    assert 'cls_token' in keys and not {'mask_token', 'head.weight'} & keys
    assert meta['timm_model'] == 'vit_base_patch16_224' and meta['source'] == 'student'


def test_maskfeat_mask_token_is_left_out(tmp_path):
    saved_model('maskfeat/maskfeat_vit-tiny-p4_1xb32-20e_demo.py', tmp_path / 'm.pth', 32)
    report = convert_checkpoint(str(tmp_path / 'm.pth'), str(tmp_path / 'm.safetensors'),
                                'timm')
    assert 'backbone.mask_token' in report['dropped']
    assert 'cls_token' in report['kept']


def test_what_timm_cannot_take_is_refused_by_name(tmp_path):
    saved_model('simmim/simmim_swin-tiny-p4_1xb32-20e_demo.py', tmp_path / 's.pth', 32)
    with pytest.raises(ValueError, match=r"Swin Transformer's stages"):
        convert_checkpoint(str(tmp_path / 's.pth'), str(tmp_path / 's.safetensors'), 'timm')
    assert not (tmp_path / 's.safetensors').exists()
    with pytest.raises(ValueError, match=r'\.safetensors name'):
        convert_checkpoint(str(tmp_path / 's.pth'), str(tmp_path / 's.pth2'), 'timm')
