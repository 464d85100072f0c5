"""The main job: its real-image data, its metrics and verdicts, a --quick run whose report
must come from the runs, and an MAE run that must learn more than an untrained ViT."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mim_deepsup.analysis.metrics import linear_probe_accuracy
from mim_deepsup.datasets.digits import SEG_DIGIT_CLASSES, digit_canvas, write_digit_data
from mim_deepsup.main_job.job import main

# the main job's runs on the digits
pytestmark = pytest.mark.slow

SMALL = dict(num_train=40, num_val=20, seg_train=6, seg_val=4)


def tree(root):
    files = {}
    for where, _, names in os.walk(root):
        for name in names:
            with open(osp.join(where, name), 'rb') as f:
                files[osp.relpath(osp.join(where, name), root)] = f.read()
    return files


def test_digit_data_is_deterministic_and_laid_out(tmp_path):
    a = write_digit_data(str(tmp_path / 'a'), **SMALL)
    write_digit_data(str(tmp_path / 'b'), **SMALL)
    files = tree(a['root'])
    assert files == tree(str(tmp_path / 'b'))
    train = [k for k in files if k.startswith('cls/train/')]
    val = [k for k in files if k.startswith('cls/val/')]
    assert len(train) == 40 and len(val) == 20
    assert {k.split('/')[2] for k in train} <= {str(d) for d in range(10)}
    assert not {k.split('/')[-1] for k in train} & {k.split('/')[-1] for k in val}
    image = Image.open(osp.join(a['root'], train[0]))
    assert image.mode == 'RGB' and image.size == (32, 32)
    assert len([k for k in files if k.startswith('seg/images/training/')]) == 6
    label = np.asarray(Image.open(osp.join(a['seg'], 'annotations', 'training', '0000.png')))
    assert label.shape == (64, 64) and set(np.unique(label)) <= set(range(12))
    assert files['seg/classes.txt'].decode().split() == list(SEG_DIGIT_CLASSES)
    # kept when asked again with the same arguments; replaced with others
    stamp = os.stat(osp.join(a['root'], 'meta.json')).st_mtime_ns
    write_digit_data(a['root'], **SMALL)
    assert os.stat(osp.join(a['root'], 'meta.json')).st_mtime_ns == stamp
    write_digit_data(a['root'], **dict(SMALL, num_val=30))
    assert len([k for k in tree(a['root']) if k.startswith('cls/val/')]) == 30


def test_digit_canvas_labels_each_digit_by_its_class():
    digits = np.zeros((4, 28, 28), np.uint8)
    digits[:, 10:18, 10:18] = 255  # a square stroke
    digits[:, 9, 10:18] = 64  # an anti-aliased rim above it
    labels = np.array([3, 7, 1, 9])
    image, label, used = digit_canvas(digits, labels, np.random.default_rng(5), 64)
    present = set(np.unique(label)) - {0, 1}
    assert present == {2 + int(c) for c in labels[:used]}
    assert (label[image >= 128] >= 2).all()  # strokes carry a digit's class
    assert (label[(image >= 32) & (image < 128)] == 0).all()  # the rim is ignored
    assert (label[image < 32] == 1).all()  # the rest is background
    assert 2 <= used <= 4 and (label >= 2).sum() == used * 64


def test_a_method_without_its_baseline_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(['--methods', 'mae', 'deepmim-maskfeat'])
    assert "MaskFeat + DeepMIM's claims compare with MaskFeat; include maskfeat" in \
        capsys.readouterr().err


def test_linear_probe_separates_what_is_separable():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    features = centres[labels] + torch.randn(300, 2, generator=generator) * 0.5
    features = torch.cat([features, torch.randn(300, 6, generator=generator)], 1)
    assert linear_probe_accuracy(features[:200], labels[:200], features[200:], labels[200:],
                                 3) == 100.0
    shuffled = labels[torch.randperm(300, generator=generator)]
    chance = linear_probe_accuracy(features[:200], shuffled[:200], features[200:],
                                   shuffled[200:], 3)
    assert chance < 50.0


def test_bad_data_folders_are_named(tmp_path, capsys):
    missing = tmp_path / 'nothing'
    with pytest.raises(SystemExit, match=f'{missing}: no such folder; expected train/'):
        main(['--data', str(missing), '--work-dir', str(tmp_path / 'w')])
    (tmp_path / 'd' / 'train' / 'a').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'd' / 'train' / 'a' / 'x.png')
    with pytest.raises(SystemExit, match=r'no class folders in val/; expected train/'):
        main(['--data', str(tmp_path / 'd'), '--work-dir', str(tmp_path / 'w')])
    (tmp_path / 'd' / 'val' / 'a').mkdir(parents=True)
    (tmp_path / 'd' / 'val' / 'a' / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(SystemExit, match=r'val/a/broken.png: not a readable image'):
        main(['--data', str(tmp_path / 'd'), '--work-dir', str(tmp_path / 'w')])


@pytest.mark.slow
def test_quick_job_reports_its_runs(tmp_path):
    work = tmp_path / 'job'
    args = ['--quick', '--work-dir', str(work), '--digits',
            str(tmp_path / 'digits')]
    report = main(args)
    with open(work / 'report.json') as f:
        assert json.load(f)['summary'] == json.loads(json.dumps(report['summary']))
    for name in ('report.md', 'curves.png', 'scores.png', 'knn_blocks.png',
                 'aad_blocks.png', 'deepmim_analyses.png', 'reconstructions.png',
                 'losses.png'):
        assert (work / name).stat().st_size > 0
    mae = report['runs']['mae']
    for run in mae:  # the report's numbers are the runs' own
        with open(work / 'mae' / f'seed{run["seed"]}' / 'evaluate.json') as f:
            assert json.load(f)['result']['knn'] == run['evaluate']['knn']
    assert len(report['claims']) == 17  # DeepMIM's 7, DDAE's and LUT's 5 each
    # the UperNet's floor: the untrained ViT segmented, one number per seed
    assert len(report['references']['untrained']['miou']) == 2
    assert all(r['untrained']['n'] == 2 for r in report['claims']
               if 'mIoU' in r['metric'])
    # the dense probe: a number for every ViT run and for the untrained ViT
    assert all(0 < r['evaluate']['dense_miou'] <= 100 for r in mae)
    assert len(report['references']['untrained']['dense_miou']) == 2
    # the curve: the untrained start and 4 points, the last after the last iteration
    curve = mae[0]['pretrain']['curve']
    assert [p['iter'] for p in curve] == [0, 32, 64, 96, 128]
    assert {r['claim'] for r in report['curve_claims']} == {
        "intermediate blocks' k-NN above MAE's", "final k-NN above MAE's",
        "k-NN above MAE's"}
    # a changed checkpoint is evaluated anew; everything else is reused
    checkpoint = mae[1]['pretrain']['checkpoint']
    state = torch.load(checkpoint, weights_only=True)
    for key, value in state['state_dict'].items():
        if key.startswith('backbone.layers.') and value.is_floating_point():
            value.add_(torch.randn_like(value) * value.std())
    torch.save(state, checkpoint)
    again = main(args)
    changed = again['runs']['mae']
    assert changed[1]['evaluate']['knn'] != mae[1]['evaluate']['knn']
    assert not changed[1]['evaluate']['reused'] and changed[1]['pretrain']['reused']

    def result(stage):
        return {k: v for k, v in stage.items() if k != 'reused'}
    assert changed[0]['evaluate']['reused']
    assert result(changed[0]['evaluate']) == result(mae[0]['evaluate'])
    for a, b in zip(again['runs']['lut'], report['runs']['lut']):
        assert all(a[stage]['reused'] for stage in ('pretrain', 'evaluate', 'finetune',
                                                    'segment'))
        assert result(a['evaluate']) == result(b['evaluate'])
        assert result(a['finetune']) == result(b['finetune'])
        assert result(a['segment']) == result(b['segment'])


@pytest.mark.slow
def test_mae_on_the_digits_learns_more_than_an_untrained_vit(tmp_path):
    """768 iterations of MAE (the quick digits, 24 epochs, one seed): its k-NN and its
    fine-tuning must beat the untrained ViT's; with nothing learned (e.g. a learning rate
    of 0) they do not.
    (The default job's MAE: 60.5 % against 41.4 % untrained.)"""
    report = main(['--quick', '--methods', 'mae', '--seeds', '1', '--epochs', '24',
                   '--finetune-epochs', '100',
                   '--work-dir', str(tmp_path / 'job'), '--digits', str(tmp_path / 'digits')])
    untrained = report['references']['untrained']
    trained = report['runs']['mae'][0]
    assert trained['evaluate']['knn'] > untrained['knn'][0] + 5, (trained, untrained)
    # fine-tuned on the same 100 labels (400 iterations), the pretrained ViT beats the
    # untrained one
    assert trained['finetune']['top1'] > untrained['finetune'][0] + 5, (trained, untrained)


def flat(value, prefix=''):
    """A config as {dotted key: value} (lists kept whole)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flat(item, f'{prefix}{key}.'))
        return out
    return {prefix[:-1]: value}


JOB_CONFIGS = {  # method -> (its job config, the tiny config it inherits)
    'mae': ('mae_vit-tiny-p4_digits.py', 'mae/mae_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim': ('deepmim_vit-tiny-p4_digits.py',
                'deepmim/deepmim_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae': ('ddae_vit-tiny-p4_digits.py', 'ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py'),
    'lut': ('lut_vit-tiny-p4_digits.py', 'lut/lut_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-lut': ('ddae-lut_vit-tiny-p4_digits.py',
                 'ddae/ddae-lut_vit-tiny-p4_1xb32-20e_demo.py'),
    'maskfeat': ('maskfeat_vit-tiny-p4_digits.py',
                 'maskfeat/maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-maskfeat': ('deepmim_maskfeat_vit-tiny-p4_digits.py',
                         'deepmim/deepmim_maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
    'ddae-maskfeat': ('ddae_maskfeat_vit-tiny-p4_digits.py',
                      'ddae/ddae_maskfeat_vit-tiny-p4_1xb32-20e_demo.py'),
    'simmim': ('simmim_swin-tiny-p4_digits.py', 'simmim/simmim_swin-tiny-p4_1xb32-20e_demo.py'),
    'deepmim-simmim': ('deepmim_simmim_swin-tiny-p4_digits.py',
                       'deepmim/deepmim_simmim_swin-tiny-p4_1xb32-20e_demo.py'),
    'ddae-simmim': ('ddae_simmim_swin-tiny-p4_digits.py',
                    'ddae/ddae_simmim_swin-tiny-p4_1xb32-20e_demo.py'),
}


def test_every_job_method_has_a_config_here():
    from mim_deepsup.main_job.methods import METHODS
    assert {m: c for m, (c, _) in JOB_CONFIGS.items()} == \
        {m: method.config for m, method in METHODS.items()}


@pytest.mark.parametrize('method', list(JOB_CONFIGS))
def test_job_configs_change_only_data_and_schedule(method):
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    job_config, tiny_config = JOB_CONFIGS[method]
    job = flat(Config.fromfile(osp.join(root, 'configs', 'main_job', job_config)).to_dict())
    tiny = flat(Config.fromfile(osp.join(root, 'configs', tiny_config)).to_dict())
    changed = {k for k in job.keys() | tiny.keys() if job.get(k) != tiny.get(k)}
    changed = {k for k in changed if not k.startswith('job_')}  # the recipe's own names
    expected = {'train_dataloader.num_workers', 'train_dataloader.persistent_workers',
                'train_dataloader.dataset.data_root',
                'train_dataloader.dataset.metainfo.classes', 'param_scheduler',
                'train_cfg.max_epochs',
                # the class folders of train/, whatever list the recipe reads
                'train_dataloader.dataset.ann_file', 'train_dataloader.dataset.data_prefix'}
    if 'maskfeat' in method:  # its recipe reads meta/train.txt, images under train/
        expected |= {'train_dataloader.dataset.split',
                     'train_dataloader.dataset.data_prefix.img_path'}
    assert changed == expected  # EMA teachers keep their recipes' momentum
