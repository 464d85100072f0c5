"""The main job: every method on the demo data, end to end, on the CPU, in a few minutes.

    python tools/main_job.py [--work-dir work_dirs/main_job] [--epochs 20] [--seg-iters 40]
        [--methods mae deepmim ddae lut] [--data data/demo]

For each method it pretrains the tiny ViT (its `*_vit-tiny-p4_1xb32-20e_demo.py` config)
through mmengine's Runner, then evaluates the pretrained encoder with the k-NN tool
(demo classes, k = 20, T = 0.07), runs the encoder analyses (AAD, head diversity, CKA,
spectra) and the reconstruction figure, converts the checkpoint for mmseg and fine-tunes
the tiny UperNet for a few iterations (mIoU from mmseg's IoUMetric). It prints one table
built from what the runs logged, writes it to WORK_DIR/summary.md and summary.json, and
prints the figures' paths.
"""
import argparse
import os.path as osp
import sys
import time
import uuid

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mim_deepsup  # noqa: E402,F401  (registers the pretraining components)
import mim_deepsup.seg  # noqa: E402,F401  (StrictLoadMAE for UperNet)
from mim_deepsup.analysis.encoder import load_encoder  # noqa: E402
from mim_deepsup.analysis.images import load_folder, load_labelled_folder  # noqa: E402
from mim_deepsup.analysis.reconstruction import (  # noqa: E402
    load_pretraining_model,
    write_reconstruction,
)
from mim_deepsup.analysis.reports import (  # noqa: E402
    analyse,
    knn_report,
    write_json,
    write_knn_report,
    write_report,
    write_text,
)
from mim_deepsup.checkpoints import convert_checkpoint  # noqa: E402
from mim_deepsup.datasets import make_demo_data  # noqa: E402

METHODS = {  # name: (pretraining config, UperNet config)
    'mae': ('configs/mae/mae_vit-tiny-p4_1xb32-20e_demo.py',
            'configs/_base_/upernet-mae_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'),
    'deepmim': ('configs/deepmim/deepmim_vit-tiny-p4_1xb32-20e_demo.py',
                'configs/deepmim/benchmarks/'
                'deepmim_upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'),
    'ddae': ('configs/ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py',
             'configs/ddae/benchmarks/ddae_upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'),
    'lut': ('configs/lut/lut_vit-tiny-p4_1xb32-20e_demo.py',
            'configs/lut/benchmarks/lut_upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py'),
}


def scalar_history(runner, key):
    """The values mmengine logged for ``key`` (e.g. 'train/loss'), one per iteration."""
    return list(runner.message_hub.get_scalar(key).data[0])


def own_names(cfg, name):
    """Runners in one process share mmengine's global instances by name: give this one
    its own message hub and visualizer (else every run logs into the first one's files)."""
    cfg.experiment_name = f'{name}-{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = f'visualizer-{cfg.experiment_name}'


def no_workers(cfg, loader):
    """Load in the main process: the demo images are tiny, and worker processes left
    behind by one Runner cost seconds each to shut down before the next one starts."""
    cfg[loader].update(num_workers=0, persistent_workers=False)


def pretrain(method, data, work_dir, epochs, log_interval):
    cfg = Config.fromfile(osp.join(ROOT, METHODS[method][0]))
    cfg.work_dir = work_dir
    own_names(cfg, f'main_job-{method}')
    cfg.train_dataloader.dataset.data_root = osp.join(data, 'imagenet')
    no_workers(cfg, 'train_dataloader')
    # the demo config's schedule (warm-up, then cosine) stretched or shrunk to `epochs`
    warmup = max(1, min(cfg.param_scheduler[0].end, epochs // 10))
    cfg.param_scheduler[0].end = warmup
    cfg.param_scheduler[1].update(begin=warmup, end=epochs, T_max=max(1, epochs - warmup))
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs,
                                        max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=log_interval)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    iters = len(runner.train_dataloader)  # iterations per epoch
    losses = scalar_history(runner, 'train/loss')[-iters:]
    pixel_key = 'train/loss_mim' if 'train/loss_mim' in runner.message_hub.log_scalars \
        else 'train/loss'
    times = scalar_history(runner, 'train/time')[-iters:]
    return dict(checkpoint=osp.join(work_dir, f'epoch_{epochs}.pth'),
                loss=float(np.mean(losses)),
                pixel_loss=float(np.mean(scalar_history(runner, pixel_key)[-iters:])),
                step_time=float(np.median(times)))


def segment(method, data, work_dir, backbone, iters, log_interval):
    cfg = Config.fromfile(osp.join(ROOT, METHODS[method][1]))
    cfg.work_dir = work_dir
    own_names(cfg, f'main_job-{method}-seg')
    cfg.model.pretrained = backbone
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = osp.join(data, 'ade')
        no_workers(cfg, loader)
    warmup = max(1, min(10, iters // 10))
    cfg.param_scheduler[0].end = warmup
    cfg.param_scheduler[1].update(begin=warmup, end=iters)
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=log_interval,
                                    log_metric_by_epoch=False)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()  # validates at the last iteration
    return dict(miou=float(runner.message_hub.get_scalar('val/mIoU').current()),
                aacc=float(runner.message_hub.get_scalar('val/aAcc').current()))


def analyses(checkpoint, data, out_dir, title):
    """k-NN, encoder analyses and reconstruction; returns the k-NN accuracy and figures."""
    encoder, facts = load_encoder(checkpoint)
    size = facts['img_size']
    train = load_labelled_folder(osp.join(data, 'imagenet', 'train'), size)
    val = load_labelled_folder(osp.join(data, 'imagenet', 'val'), size)
    if train[2] != val[2]:
        raise ValueError(f'{data}: the train and val classes differ ({train[2]}, {val[2]})')
    knn = knn_report(encoder, train[:2], val[:2], train[2])
    figures = write_knn_report(knn, out_dir, title)
    images, _ = load_folder(osp.join(data, 'imagenet', 'val'), size, 64)
    report = analyse(encoder, facts, images)
    report.update(checkpoint=checkpoint, facts=facts, source='student')
    figures += write_report(report, out_dir, title)
    images, paths = load_folder(osp.join(data, 'imagenet', 'val'), size, 4)
    figures += write_reconstruction(load_pretraining_model(checkpoint), images, paths,
                                    out_dir, title=title)[:1]
    return knn['accuracy'], figures


def references(data):
    """k-NN of the two references every pretraining should beat: raw pixels, and the tiny
    ViT untrained (the MAE config's initialisation, seed 0), at its input size."""
    import torch
    from mmpretrain.registry import MODELS

    from mim_deepsup.analysis.metrics import knn_accuracy
    from mim_deepsup.analysis.reports import pooled_features
    backbone = Config.fromfile(osp.join(ROOT, METHODS['mae'][0])).model.backbone
    size = backbone.img_size
    train = load_labelled_folder(osp.join(data, 'imagenet', 'train'), size)
    val = load_labelled_folder(osp.join(data, 'imagenet', 'val'), size)
    pixels = knn_accuracy(train[0].flatten(1), train[1], val[0].flatten(1), val[1],
                          len(train[2]))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        encoder = MODELS.build(backbone)
    encoder.init_weights()
    encoder.eval()
    untrained = knn_accuracy(pooled_features(encoder, train[0]), train[1],
                             pooled_features(encoder, val[0]), val[1], len(train[2]))
    return dict(pixels=pixels, untrained=untrained)


def table(rows):
    lines = ['| method | pretrain loss (total) | final-decoder loss | k-NN top-1 (%) | mIoU (%) '
             '| step time (s) |', '|---|---|---|---|---|---|']
    lines += [f'| {r["method"]} | {r["loss"]:.4f} | {r["pixel_loss"]:.4f} | {r["knn"]:.2f} '
              f'| {r["miou"]:.2f} | {r["step_time"]:.3f} |' for r in rows]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'main_job'))
    parser.add_argument('--data', default=osp.join(ROOT, 'data', 'demo'),
                        help='demo data (written there if missing)')
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS))
    parser.add_argument('--epochs', type=int, default=20, help='pretraining epochs')
    parser.add_argument('--seg-iters', type=int, default=40, help='UperNet iterations')
    parser.add_argument('--log-interval', type=int, default=8)
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.seg_iters < 2:  # a warm-up step and a decay step at least
        parser.error('--epochs and --seg-iters: expected at least 2')
    make_demo_data(args.data)  # keeps an existing folder as it is
    rows, figures, start = [], {}, time.time()
    for i, method in enumerate(args.methods, 1):
        out = osp.join(args.work_dir, method)
        print(f'== [{i}/{len(args.methods)}] {method}: pretraining', flush=True)
        row = dict(method=method, **pretrain(method, args.data, osp.join(out, 'pretrain'),
                                             args.epochs, args.log_interval))
        print(f'== [{i}/{len(args.methods)}] {method}: k-NN, analyses, figures', flush=True)
        row['knn'], figures[method] = analyses(row['checkpoint'], args.data,
                                               osp.join(out, 'analysis'), method)
        print(f'== [{i}/{len(args.methods)}] {method}: UperNet', flush=True)
        backbone = osp.join(out, 'backbone_mmseg.pth')
        convert_checkpoint(row['checkpoint'], backbone, target='mmseg')
        row.update(segment(method, args.data, osp.join(out, 'seg'), backbone,
                           args.seg_iters, args.log_interval))
        rows.append(row)
    refs = references(args.data)
    text = table(rows) + (f'\n\nk-NN references: raw pixels {refs["pixels"]:.2f} %, '
                          f'untrained ViT {refs["untrained"]:.2f} %')
    write_json(osp.join(args.work_dir, 'summary.json'), dict(
        rows=rows, references=refs, figures=figures, epochs=args.epochs,
        seg_iters=args.seg_iters))
    write_text(osp.join(args.work_dir, 'summary.md'), text + '\n')
    print(f'\nmain job: {len(rows)} methods in {time.time() - start:.0f} s '
          f'({args.epochs} pretraining epochs, {args.seg_iters} UperNet iterations each)\n')
    print(text)
    print('\nfigures:')
    for method, paths in figures.items():
        for path in paths:
            print(f'  {method}: {path}')
    print(f'table: {osp.join(args.work_dir, "summary.md")}')
    return rows


if __name__ == '__main__':
    main()
