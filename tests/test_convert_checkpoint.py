"""Converting pretraining checkpoints into backbone checkpoints for fine-tuning."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mim_deepsup.checkpoints import convert_checkpoint
from mim_deepsup.testing import ROOT, build_model

TINY_LUT = osp.join(ROOT, 'configs', 'lut', 'lut_vit-tiny-p4_1xb32-20e_demo.py')
TINY_ARCH = dict(embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256)


@pytest.fixture(scope='module')
def lut_checkpoint(tmp_path_factory):
    """A tiny LUT model saved as the Runner does, with a teacher that differs from the
    student."""
    model = build_model(Config.fromfile(TINY_LUT).model)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.01)
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return model, str(path)


def finetune_vit(checkpoint):
    """mmpretrain's fine-tuning ViT (as in its MAE benchmark configs), tiny."""
    vit = MODELS.build(dict(
        type='VisionTransformer', arch=TINY_ARCH, img_size=32, patch_size=4,
        out_type='avg_featmap', final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
    vit.init_weights()
    return vit


@pytest.mark.parametrize('source', ['student', 'teacher'])
def test_converted_backbone_loads_into_the_finetuning_vit(lut_checkpoint, tmp_path, source):
    model, src = lut_checkpoint
    dst = str(tmp_path / 'backbone.pth')
    report = convert_checkpoint(src, dst, source=source)
    expected = (model.backbone if source == 'student' else model.teacher['backbone']).state_dict()
    # kept: exactly the encoder's tensors, under backbone.*
    assert report['kept'] == sorted(f'backbone.{k}' for k in expected)
    assert all(k.startswith(('neck.', 'supervisions.', 'teacher.', 'backbone.'))
               for k in report['dropped'])
    assert any(k.startswith('neck.') for k in report['dropped'])
    assert any(k.startswith('supervisions.lut.') for k in report['dropped'])
    if source == 'student':
        assert report['renamed'] == []
        assert all(k.startswith('teacher.') for k in report['dropped']
                   if 'backbone.' in k)
    else:
        assert ('teacher.ema.backbone.ln1.weight', 'backbone.ln1.weight') in report['renamed']
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(dst).st_mode & 0o777 == 0o666 & ~umask  # readable as any new file
    saved = torch.load(dst, weights_only=True)['state_dict']
    # strict about the backbone: the only differences are the fine-tuning ViT's own design
    vit = MODELS.build(dict(type='VisionTransformer', arch=TINY_ARCH, img_size=32,
                            patch_size=4, out_type='avg_featmap', final_norm=False))
    result = vit.load_state_dict({k[len('backbone.'):]: v for k, v in saved.items()},
                                 strict=False)
    # by design of MAE fine-tuning (final_norm=False, average pooling): the pooled-feature
    # norm ln2 is new, the pretraining final norm ln1 is not used
    assert result.missing_keys == ['ln2.weight', 'ln2.bias']
    assert result.unexpected_keys == ['ln1.weight', 'ln1.bias']
    loaded = finetune_vit(dst).state_dict()  # through mmengine's Pretrained init
    for key in ('layers.0.attn.qkv.weight', 'patch_embed.projection.weight', 'cls_token'):
        assert torch.equal(loaded[key], expected[key]), key
    assert not torch.equal(model.backbone.state_dict()['layers.0.attn.qkv.weight'],
                           model.teacher['backbone'].state_dict()['layers.0.attn.qkv.weight'])


def test_bad_inputs_fail_clearly_and_write_nothing(lut_checkpoint, tmp_path):
    model, _ = lut_checkpoint
    text = tmp_path / 'notes.txt'
    text.write_text('not a checkpoint')
    dst = tmp_path / 'out' / 'backbone.pth'
    with pytest.raises(ValueError, match='notes.txt: not a loadable checkpoint'):
        convert_checkpoint(str(text), str(dst))
    with pytest.raises(FileNotFoundError, match='no such checkpoint file'):
        convert_checkpoint(str(tmp_path / 'missing.pth'), str(dst))
    headless = tmp_path / 'neck_only.pth'
    torch.save({'state_dict': {k: v for k, v in model.state_dict().items()
                               if k.startswith('neck.')}}, headless)
    with pytest.raises(ValueError, match=r'no backbone\.\* keys'):
        convert_checkpoint(str(headless), str(dst))
    mae = tmp_path / 'mae.pth'
    torch.save({'state_dict': {k: v for k, v in model.state_dict().items()
                               if not k.startswith('teacher.')}}, mae)
    with pytest.raises(ValueError, match='this checkpoint has no EMA teacher'):
        convert_checkpoint(str(mae), str(dst), source='teacher')
    with pytest.raises(ValueError, match='target: expected one of mmpretrain'):
        convert_checkpoint(str(mae), str(dst), target='onnx')
    assert not dst.exists() and not list(tmp_path.glob('**/.partial-*'))


def test_an_interrupted_write_leaves_no_file(lut_checkpoint, tmp_path, monkeypatch):
    _, src = lut_checkpoint
    dst = tmp_path / 'backbone.pth'

    def broken_save(obj, f):  # half a file, then the interrupt
        f.write(b'half')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(KeyboardInterrupt):
        convert_checkpoint(src, str(dst))
    assert os.listdir(tmp_path) == []


def test_convert_tool_prints_what_it_kept_dropped_and_renamed(lut_checkpoint, tmp_path,
                                                               capsys):
    from tools.convert_checkpoint import main
    _, src = lut_checkpoint
    assert main([src, str(tmp_path / 'b.pth'), '--teacher']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('kept ') and '(EMA teacher)' in out[0]
    assert out[1].startswith('dropped ') and 'neck (' in out[1] and 'supervisions.lut (' in out[1]
    assert out[2].startswith('renamed ') and 'teacher.ema.backbone.' in out[2]
    assert main([str(tmp_path / 'nothing.pth'), str(tmp_path / 'c.pth')]) == 2
    assert 'no such checkpoint file' in capsys.readouterr().err
