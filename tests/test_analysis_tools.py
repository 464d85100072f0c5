"""The analysis tools on tiny checkpoints: attention from the model's own computation,
outputs that exist and hold finite numbers, and clear errors for bad inputs."""
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mim_deepsup.analysis.encoder import attention_recorded, load_encoder
from mim_deepsup.analysis.images import load_folder
from mim_deepsup.testing import ROOT, build_model

CONFIGS = osp.join(ROOT, 'configs')
TINY_DDAE = osp.join(CONFIGS, 'ddae', 'ddae_vit-tiny-p4_1xb32-20e_demo.py')
TINY_DEEPMIM = osp.join(CONFIGS, 'deepmim', 'deepmim_vit-tiny-p4_1xb32-20e_demo.py')
TINY_BEIT = osp.join(CONFIGS, 'beitv2', 'beitv2_vit-tiny-p4_1xb32-20e_demo.py')


def runner_like_checkpoint(config, path):
    """A model saved as the Runner saves it: state dict plus the config text."""
    cfg = Config.fromfile(config)
    model = build_model(cfg.model)
    torch.save(dict(meta=dict(cfg=cfg.pretty_text, epoch=1), state_dict=model.state_dict()),
               path)
    return model, str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('analysis')
    return {name: runner_like_checkpoint(config, root / f'{name}.pth')
            for name, config in (('ddae', TINY_DDAE), ('deepmim', TINY_DEEPMIM),
                                 ('beit', TINY_BEIT))}


def finite(values):
    if isinstance(values, (list, tuple)):
        return all(finite(v) for v in values)
    return isinstance(values, (int, float)) and math.isfinite(values)


@pytest.mark.parametrize('name', ['ddae', 'beit'])
def test_attention_comes_from_the_models_own_forward(checkpoints, name, demo_data):
    """The recorded maps are the probabilities the block used: recording does not change
    the output, every row sums to 1, and the maps reproduce the attention output."""
    encoder, facts = load_encoder(checkpoints[name][1])
    images, _ = load_folder(demo_data['imagenet'], facts['img_size'], 3)
    with torch.no_grad():
        plain = encoder(images, mask=None)[0]
        with attention_recorded(encoder) as maps:
            recorded = encoder(images, mask=None)[0]
    assert torch.equal(plain, recorded)
    assert len(maps) == facts['num_layers']
    assert maps[0].shape == (3, facts['num_heads'], 65, 65)
    torch.testing.assert_close(maps[2].sum(-1), torch.ones(3, facts['num_heads'], 65))
    if name == 'ddae':  # MAE's attention: maps @ v is the scaled-dot-product output
        layer = encoder.layers[0]
        with torch.no_grad():
            tokens = torch.cat([encoder.cls_token.expand(3, -1, -1),
                                encoder.patch_embed(images)[0]], 1) + encoder.pos_embed
            qkv = layer.attn.qkv(layer.ln1(tokens)).reshape(3, 65, 3, 4, 16).permute(
                2, 0, 3, 1, 4)
            torch.testing.assert_close(
                maps[0] @ qkv[2],
                torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]),
                atol=1e-5, rtol=1e-5)


def test_encoder_analyses_write_finite_numbers_and_pictures(checkpoints, demo_data,
                                                            tmp_path, capsys):
    from mim_deepsup.analysis.cli import main
    assert main(['aad', 'diversity', 'cka', 'spectrum'],
                [checkpoints['ddae'][1], demo_data['imagenet'], '--out', str(tmp_path),
                 '--limit', '8', '--teacher']) == 0
    printed = capsys.readouterr().out.split()
    for name, key, shape in (('aad', 'aad_pixels', (6, 4)), ('diversity', 'diversity_nats', (6,)),
                             ('cka', 'cka', (6, 6)), ('spectrum', 'singular_values', (6, 64))):
        assert osp.join(str(tmp_path), f'{name}.png') in printed
        assert osp.getsize(tmp_path / f'{name}.png') > 1000
        data = json.loads((tmp_path / f'{name}.json').read_text())
        assert data['num_images'] == 8 and data['source'] == 'teacher'
        assert tuple(torch.tensor(data[key]).shape) == shape and finite(data[key])
        assert (tmp_path / f'{name}.csv').read_text().count('\n') > 1
    cka = torch.tensor(json.loads((tmp_path / 'cka.json').read_text())['cka'])
    torch.testing.assert_close(cka.diagonal(), torch.ones(6, dtype=cka.dtype))
    aad = torch.tensor(json.loads((tmp_path / 'aad.json').read_text())['aad_pixels'])
    # 8 x 8 patches of 4 px: distances between 0 and 4 * sqrt(98)
    assert (aad > 0).all() and (aad < 4 * 98**0.5).all()


def test_knn_tool(checkpoints, demo_data, tmp_path, capsys):
    from tools.analysis.knn import main
    root = osp.join(demo_data['imagenet'])
    assert main([checkpoints['deepmim'][1], osp.join(root, 'train'), osp.join(root, 'val'),
                 '--out', str(tmp_path), '--k', '5']) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / 'knn.json').read_text())
    assert 0 <= report['accuracy'] <= 100 and report['num_val'] == 8
    assert sum(map(sum, report['confusion'])) == 8
    assert f'k-NN top-1: {report["accuracy"]:.2f} %' in out
    assert osp.getsize(tmp_path / 'knn.png') > 1000


@pytest.mark.parametrize('name', ['ddae', 'deepmim'])
def test_reconstruction_figure(checkpoints, demo_data, tmp_path, name):
    from tools.analysis.reconstruction import main
    assert main([checkpoints[name][1], demo_data['imagenet'], '--out', str(tmp_path),
                 '--num-images', '2']) == 0
    report = json.loads((tmp_path / 'reconstruction.json').read_text())
    assert osp.getsize(tmp_path / 'reconstruction.png') > 1000
    decoders = set(report['masked_mse'])
    if name == 'deepmim':  # the final decoder and the pixel auxiliary decoders
        assert decoders == {'final', 'deepmim.l3', 'deepmim.l4', 'deepmim.l5'}
        assert report['weights'] == {}
    else:  # DDAE: its aux decoders predict features; weight maps of each weighted loss
        assert decoders == {'final'}
        assert sorted(report['weights']) == [
            'ddae.l2 (depth 0.33)', 'ddae.l4 (depth 0.67)', 'head (depth 1.00)']
        for weights in report['weights'].values():  # at t = 1: masked patches average 1
            w = torch.tensor(weights)
            assert w.shape == (2, 64) and finite(weights) and (w >= 0).all()
            masked = w > 0
            torch.testing.assert_close(w.sum(1) / masked.sum(1), torch.ones(2, dtype=w.dtype))
        deep, shallow = (torch.tensor(report['weights'][k]) for k in (
            'head (depth 1.00)', 'ddae.l2 (depth 0.33)'))
        assert not torch.allclose(deep, shallow)  # the exponent depends on depth
    assert all(len(v) == 2 and finite(v) for v in report['masked_mse'].values())


def test_bad_inputs_fail_clearly(checkpoints, demo_data, tmp_path, capsys):
    from mim_deepsup.analysis.cli import main
    from tools.analysis.reconstruction import main as reconstruction
    broken = tmp_path / 'images'
    broken.mkdir()
    (broken / 'a.png').write_bytes(b'not a png')
    ckpt = checkpoints['ddae'][1]
    assert main(['aad'], [ckpt, str(broken), '--out', str(tmp_path / 'o')]) == 2
    assert f'{broken / "a.png"}: not a readable image' in capsys.readouterr().err
    no_vit = tmp_path / 'not_a_vit.pth'
    torch.save({'state_dict': {'backbone.conv.weight': torch.zeros(3)}}, no_vit)
    assert main(['cka'], [str(no_vit), demo_data['imagenet'], '--out', str(tmp_path)]) == 2
    assert 'no ViT encoder' in capsys.readouterr().err
    assert main(['aad'], [ckpt, demo_data['imagenet'], '--out', str(tmp_path),
                          '--num-heads', '5']) == 2
    assert 'not divisible by num_heads=5' in capsys.readouterr().err
    assert reconstruction([checkpoints['beit'][1], demo_data['imagenet'],
                           '--out', str(tmp_path)]) == 2
    assert 'predicts no pixels' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_an_authors_timm_release_is_analysed_as_trained(demo_data, tmp_path, capsys):
    """A timm-named release (as MAE's and LUT's scripts save them) loads into the same
    encoder, whose block outputs equal timm's own, and the tools run on it."""
    timm = pytest.importorskip('timm')
    from mim_deepsup.analysis.cli import main
    torch.manual_seed(0)
    vit = timm.create_model('vit_base_patch16_224', pretrained=False, img_size=32,
                            patch_size=4, embed_dim=64, depth=6, num_heads=4, num_classes=0)
    vit.eval()
    path = tmp_path / 'checkpoint-1599.pth'
    torch.save({'model': {f'module.{k}': v for k, v in vit.state_dict().items()}}, path)
    encoder, facts = load_encoder(str(path), num_heads=4)
    images, _ = load_folder(demo_data['imagenet'], facts['img_size'], 2)
    with torch.no_grad():
        _, taps = encoder.forward_taps(images, taps=(3, ), mask=None)
        reference = vit.forward_intermediates(images, indices=[2], norm=False,
                                              output_fmt='NLC', intermediates_only=True)[0]
    torch.testing.assert_close(taps[3][:, 1:], reference, atol=1e-5, rtol=1e-5)
    assert main(['aad', 'cka'], [str(path), demo_data['imagenet'], '--out', str(tmp_path),
                                 '--num-heads', '4', '--limit', '4']) == 0
    assert json.loads((tmp_path / 'aad.json').read_text())['facts']['num_heads'] == 4
    assert finite(json.loads((tmp_path / 'cka.json').read_text())['cka'])


def test_the_number_of_heads_is_never_guessed(checkpoints, tmp_path, demo_data):
    """The weights of an MAE-family ViT do not tell its heads: they come from the config
    (also through a conversion), a standard ViT of that width and depth, or the user."""
    from mim_deepsup.checkpoints import convert_checkpoint
    converted = str(tmp_path / 'backbone.pth')
    convert_checkpoint(checkpoints['ddae'][1], converted)
    _, facts = load_encoder(converted)
    assert (facts['num_heads'], facts['num_heads_from']) == (4, 'config')
    bare = tmp_path / 'bare.pth'  # backbone.* keys, no config: heads unknown for 64-d
    torch.save({'state_dict': torch.load(converted, weights_only=True)['state_dict']}, bare)
    with pytest.raises(ValueError, match='number of attention heads .* pass --num-heads'):
        load_encoder(str(bare))
    assert load_encoder(str(bare), num_heads=2)[1]['num_heads_from'] == 'argument'
    from mim_deepsup.analysis.encoder import known_num_heads
    assert (known_num_heads(768, 12), known_num_heads(1280, 32), known_num_heads(64, 6)) == \
        (12, 16, None)  # ViT-B, ViT-H (width / 64 would say 20), unknown
    mmseg = str(tmp_path / 'mmseg.pth')
    convert_checkpoint(checkpoints['ddae'][1], mmseg, target='mmseg')
    with pytest.raises(ValueError, match='an mmseg backbone file'):
        load_encoder(mmseg)


def test_reconstructions_show_only_pixel_decoders_and_refuse_other_targets(tmp_path,
                                                                         monkeypatch):
    """DDAE's aux decoders predict 768-d features on ViT-B/16, as wide as its 16 x 16 x 3
    pixel patches: only components with pixel targets count as reconstructions."""
    from mim_deepsup.analysis.reconstruction import load_pretraining_model, reconstruct
    model = build_model(Config.fromfile(osp.join(
        CONFIGS, 'ddae', 'ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')).model).eval()
    images = torch.randn(1, 3, 224, 224)
    state = torch.get_rng_state()
    result = reconstruct(model, images)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is kept
    assert set(result['images']) == {'final'} and len(result['weights']) == 3
    placeholder = tmp_path / 'clip.pth'
    placeholder.touch()
    monkeypatch.setenv('DEEPMIM_CLIP', str(placeholder))
    clip = Config.fromfile(osp.join(
        CONFIGS, 'deepmim', 'deepmim-clip_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'))
    torch.save({'meta': {'cfg': clip.pretty_text}, 'state_dict': {}}, tmp_path / 'c.pth')
    with pytest.raises(ValueError, match='target generator predicts no pixels'):
        load_pretraining_model(str(tmp_path / 'c.pth'))


def test_outputs_are_readable_like_any_new_file(checkpoints, demo_data, tmp_path):
    import os

    from mim_deepsup.analysis.cli import main
    assert main(['diversity'], [checkpoints['ddae'][1], demo_data['imagenet'], '--out',
                                str(tmp_path), '--limit', '2']) == 0
    umask = os.umask(0)
    os.umask(umask)
    for name in ('diversity.json', 'diversity.csv', 'diversity.png'):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o666 & ~umask
