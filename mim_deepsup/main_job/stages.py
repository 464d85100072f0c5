"""The stages of one run of the main job (one method, one seed), each reused from disk
when its inputs have not changed.

- **pretrain**: the method's job config through mmengine's Runner; saves the checkpoint,
  every iteration's losses and the online k-NN curve (``OnlineKNNHook`` on fixed subsets);
- **evaluate**: the student encoder on frozen features: k-NN top-1 of the final features
  (all training labels, and 10 per class), a linear probe, the k-NN of every block's
  output and (a ViT's) every block's average attention distance, and (pixel targets) the
  final decoder's reconstructions of fixed validation images;
- **finetune** (a ViT): the converted encoder fine-tuned end to end on a labelled tenth of
  the training set with mmpretrain's fine-tuning recipe, top-1 on the validation set;
- **segment** (a ViT): the converted encoder fine-tuned in the tiny UperNet, mIoU on
  validation.

A stage writes ``<stage>.json`` (atomically) holding its result and a key, the hash of
everything it read: the config after the job's changes, the seed, the data's
fingerprint and, after pretraining, the checkpoint's SHA-256. A stage whose key matches
is not run again, so a replaced checkpoint is evaluated anew and an interrupted job goes
on where it stopped.
"""
import contextlib
import hashlib
import json
import os
import os.path as osp
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..fileio import atomic_write

#: the run's stages, in order
STAGES = ('pretrain', 'evaluate', 'finetune', 'segment')
#: the fine-tuning stage's labels: this fraction of each training class (at least one
#: image), drawn once by a seed-0 permutation, the same for every method and seed
LABELLED_FRACTION = 0.1
#: validation images reconstructed for the side-by-side figure (the first of each class, at
#: most this many), and the mask's seed
NUM_RECONSTRUCTED, RECONSTRUCTION_SEED = 8, 0
#: images the attention distances are averaged over
NUM_AAD_IMAGES = 256
#: k-NN with 10 training images per class: the mean over this many disjoint draws
FEW_SHOT, FEW_SHOT_DRAWS = 10, 5
#: the online k-NN during pretraining (the curve): evaluations after the start, and the
#: fixed subsets it reads (the first images of each class, by name)
CURVE_POINTS, CURVE_TRAIN_PER_CLASS, CURVE_VAL_PER_CLASS = 8, 100, 50
#: the dense probe reads segmentation images resized to this many encoder inputs a side
#: (the 64 px digit canvases: 2 x 2 tiles of 32 px), and fits on the first training images
#: (by name; 250 canvases are 64,000 patches of the tiny ViT)
DENSE_TILES, DENSE_TRAIN_IMAGES = 2, 250


@dataclass
class RunSpec:
    """One run of the main job: what it trains, on what, and where it writes."""
    method: str
    seed: int
    pretrain_config: str
    seg_config: str
    run_dir: str
    data: str  # image folder: train/<class>/, val/<class>/
    data_key: str  # fingerprint of ``data`` (and of ``seg_data``)
    seg_data: Optional[str] = None  # ADE20K layout with classes.txt; None: no segmentation
    finetune_config: Optional[str] = None  # None: no fine-tuning stage (a Swin)
    labelled: Optional[str] = None  # the fine-tuning labels (labelled_subset's file)
    epochs: Optional[int] = None  # None: the config's schedule
    seg_iters: Optional[int] = None
    finetune_epochs: Optional[int] = None  # None: the fine-tuning config's
    curve_points: int = CURVE_POINTS  # online k-NN evaluations after the start
    force: bool = False
    verbose: bool = False


def digest(value) -> str:
    """SHA-256 of a JSON-able value (dict keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            sha.update(block)
    return sha.hexdigest()


def _cached(path: str, key: str, force: bool) -> Optional[dict]:
    """The stored result at ``path`` if it was computed from ``key``."""
    if force or not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            stored = json.load(f)
    except (OSError, ValueError):
        return None
    return stored['result'] if stored.get('key') == key else None


def _store(path: str, key: str, result: dict) -> dict:
    text = json.dumps(dict(key=key, result=result), indent=1)
    atomic_write(path, lambda f: f.write(text.encode()))
    return result


# --------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------


def set_epochs(cfg, epochs: int) -> None:
    """The config's warm-up + cosine schedule stretched or shrunk to ``epochs`` (the
    warm-up keeps its fraction of the schedule, at least one epoch)."""
    warmup, cosine = cfg.param_scheduler
    fraction = warmup.end / cfg.train_cfg.max_epochs
    warmup.end = max(1, round(fraction * epochs))
    cosine.update(begin=warmup.end, end=epochs, T_max=max(1, epochs - warmup.end))
    cfg.train_cfg.max_epochs = epochs


def set_iters(cfg, iters: int) -> None:
    """The segmentation config's warm-up + poly schedule fitted to ``iters``."""
    warmup, poly = cfg.param_scheduler
    warmup.end = max(1, min(warmup.end, iters // 10))
    poly.update(begin=warmup.end, end=iters)
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.default_hooks.checkpoint.update(interval=iters)


def _own_names(cfg, name: str) -> None:
    """Runners in one process share mmengine's global instances by name: each run gets
    its own message hub and visualizer."""
    cfg.experiment_name = f'{name}-{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = f'visualizer-{cfg.experiment_name}'


def class_folders(folder: str) -> Tuple[str, ...]:
    """The class folders of an image folder (``folder/<class>/``), sorted."""
    return tuple(sorted(d for d in os.listdir(folder) if osp.isdir(osp.join(folder, d))))


def pretrain_cfg(spec: RunSpec):
    """The method's job config on the run's data, seed and epochs, with the online k-NN
    (:class:`~mim_deepsup.engine.hooks.OnlineKNNHook`) at ``CURVE_POINTS`` evenly spaced
    iterations."""
    from mmengine.config import Config

    from ..analysis.images import find_images
    cfg = Config.fromfile(spec.pretrain_config)
    train = osp.join(spec.data, 'train')
    cfg.train_dataloader.dataset.update(data_root=spec.data,
                                        metainfo=dict(classes=class_folders(train)))
    if spec.epochs is not None:
        set_epochs(cfg, spec.epochs)
    cfg.randomness = dict(seed=spec.seed, diff_rank_seed=False)
    cfg.default_hooks.checkpoint.update(interval=cfg.train_cfg.max_epochs, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20)
    batches = -(-len(find_images(train)) // cfg.train_dataloader.batch_size)  # per epoch
    iterations = batches * cfg.train_cfg.max_epochs
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(
        type='OnlineKNNHook', data_root=spec.data,
        interval=max(1, -(-iterations // spec.curve_points)),
        num_train_per_class=CURVE_TRAIN_PER_CLASS, num_val_per_class=CURVE_VAL_PER_CLASS)]
    return cfg


def labelled_subset(data: str, path: str) -> str:
    """Write (atomically, once) the fine-tuning stage's labelled subset of ``data/train``
    to ``path``: ``LABELLED_FRACTION`` of each class, lines '<class>/<image> <label>'."""
    from ..analysis.images import find_images
    train = osp.join(data, 'train')
    rng = np.random.default_rng(0)
    lines = []
    for label, name in enumerate(class_folders(train)):
        images = [osp.relpath(p, train) for p in find_images(osp.join(train, name))]
        count = max(1, round(LABELLED_FRACTION * len(images)))
        lines += [f'{images[i]} {label}' for i in sorted(rng.permutation(len(images))[:count])]
    text = '\n'.join(lines) + '\n'
    if osp.isfile(path):
        with open(path) as f:
            if f.read() == text:
                return path
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def finetune_cfg(spec: RunSpec, backbone: Optional[str]):
    """The fine-tuning config on the run's data and labelled subset, starting from the
    converted ``backbone`` (None: the ViT's own initialisation)."""
    from mmengine.config import Config
    cfg = Config.fromfile(spec.finetune_config)
    classes = class_folders(osp.join(spec.data, 'train'))
    for loader, extra in (('train_dataloader', dict(ann_file=spec.labelled)),
                          ('val_dataloader', {}), ('test_dataloader', {})):
        cfg[loader].dataset.update(data_root=spec.data, metainfo=dict(classes=classes),
                                   **extra)
    cfg.model.head.num_classes = cfg.data_preprocessor.num_classes = len(classes)
    if spec.finetune_epochs is not None:
        set_epochs(cfg, spec.finetune_epochs)
        cfg.train_cfg.val_interval = spec.finetune_epochs
    if backbone is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = backbone
    cfg.randomness = dict(seed=spec.seed)
    return cfg


def segment_cfg(spec: RunSpec, classes: List[str], backbone: Optional[str]):
    """The UperNet config on the run's segmentation data, its cross-entropy weighted by
    the data's own median-frequency weights, starting from the converted ``backbone``
    (None: mmseg's initialisation of the ViT)."""
    from mmengine.config import Config

    from ..seg import median_frequency_weights
    cfg = Config.fromfile(spec.seg_config)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        dataset.data_root = spec.seg_data
        if list(dataset.metainfo.classes) != list(classes):  # the user's own classes
            dataset.metainfo = dict(classes=tuple(classes))
        cfg[loader].update(num_workers=0, persistent_workers=False)
    weights = median_frequency_weights(
        osp.join(spec.seg_data, 'annotations', 'training'), len(classes))
    for head in (cfg.model.decode_head, cfg.model.auxiliary_head):
        head.num_classes = len(classes)
        if head.loss_decode.get('type') == 'ClassWeightedCrossEntropyLoss':
            head.loss_decode.class_weight = weights  # the data's own
    if spec.seg_iters is not None:
        set_iters(cfg, spec.seg_iters)
    cfg.model.pretrained = backbone
    cfg.randomness = dict(seed=spec.seed)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20,
                                    log_metric_by_epoch=False)
    return cfg


# --------------------------------------------------------------------------------------
# the stages
# --------------------------------------------------------------------------------------

Report = Callable[[str, int, int], None]  # (stage, done, total)


def _progress_hook(stage: str, report: Report, record: Optional[Dict[str, list]] = None):
    """A hook that reports the Runner's iterations and, for pretraining, records every
    iteration's logged losses (mmengine's RuntimeInfoHook has already read them)."""
    from mmengine.hooks import Hook

    class Progress(Hook):
        priority = 'LOW'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if record is not None:
                hub = runner.message_hub
                for name, key in (('loss', 'train/loss'), ('mim', 'train/loss_mim')):
                    if key in hub.log_scalars:
                        record[name].append(float(hub.get_scalar(key).current()))
            report(stage, runner.iter + 1, runner.max_iters)

    return Progress()


def _train(cfg, work_dir: str, name: str, hook):
    """Train ``cfg`` in ``work_dir`` through mmengine's Runner, under its own names and
    with ``hook``; returns the Runner and the seconds it took."""
    from mmengine.runner import Runner
    cfg.work_dir = work_dir
    _own_names(cfg, name)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(hook)
    runner.train()
    return runner, time.time() - start


def pretrain(spec: RunSpec, report: Report) -> dict:
    """Pretrain the method (or reuse the run on disk); returns the checkpoint's path and
    digest, every iteration's losses and the median step time."""
    cfg = pretrain_cfg(spec)
    work_dir = osp.join(spec.run_dir, 'pretrain')
    key = digest(dict(config=cfg.pretty_text, data=spec.data_key))
    path = osp.join(spec.run_dir, 'pretrain.json')
    result = _cached(path, key, spec.force)
    checkpoint = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if result is not None and osp.isfile(checkpoint):
        return dict(result, checkpoint_sha256=file_digest(checkpoint), reused=True)
    record = dict(loss=[], mim=[])
    runner, seconds = _train(cfg, work_dir, f'main_job-{spec.method}-{spec.seed}',
                             _progress_hook('pretrain', report, record))
    times = runner.message_hub.get_scalar('train/time').data[0]
    with open(osp.join(work_dir, 'knn_curve.json')) as f:
        curve = json.load(f)
    result = dict(checkpoint=checkpoint, iterations=len(record['loss']),
                  epochs=cfg.train_cfg.max_epochs,
                  losses=record['loss'], mim_losses=record['mim'] or record['loss'],
                  step_time=float(np.median(times)), seconds=seconds,
                  curve=curve['points'], curve_seconds=sum(p['seconds'] for p in
                                                           curve['points']))
    _store(path, key, result)
    return dict(result, checkpoint_sha256=file_digest(checkpoint), reused=False)


def _few_shot_subsets(labels, num_classes: int):
    """``FEW_SHOT_DRAWS`` disjoint draws of ``FEW_SHOT`` training images per class
    (fixed: every method sees the same ones)."""
    import torch
    generator = torch.Generator().manual_seed(0)
    per_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    draws = min(FEW_SHOT_DRAWS, min(len(idx) for idx in per_class) // FEW_SHOT)
    return [torch.cat([idx[d * FEW_SHOT:(d + 1) * FEW_SHOT] for idx in per_class])
            for d in range(draws)]


def load_split(data: str, size: int):
    """(images, labels, classes) of ``data/train`` and ``data/val``; the classes must be
    the same folders in both."""
    from ..analysis.images import load_labelled_folder
    train = load_labelled_folder(osp.join(data, 'train'), size)
    val = load_labelled_folder(osp.join(data, 'val'), size)
    if train[2] != val[2]:
        raise ValueError(f'{data}: train/ and val/ have different class folders '
                         f'({train[2]} and {val[2]})')
    return train, val


def load_seg_split(seg_data: str, size: int, num_train: Optional[int] = None):
    """((images, labels), (images, labels), classes) of ``seg_data``'s training (the
    first ``num_train`` by name, or all) and validation sets (ADE20K's layout), resized to
    ``size`` x ``size`` (labels: class indices, 255 ignored), and its class names."""
    from ..analysis.images import find_images, load_images, load_label_maps
    splits = []
    for split, limit in (('training', num_train), ('validation', None)):
        images = find_images(osp.join(seg_data, 'images', split))[:limit]
        labels = [osp.join(seg_data, 'annotations', split,
                           osp.splitext(osp.basename(p))[0] + '.png') for p in images]
        missing = [p for p in labels if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{missing[0]}: the label map of '
                                    f'{images[labels.index(missing[0])]} is missing')
        splits.append((load_images(images, size), load_label_maps(labels, size)))
    return splits[0], splits[1], read_classes(seg_data)


def dense_probe_data(seg_data: Optional[str], size: int):
    """What the dense probe reads for an encoder of input ``size``: ``seg_data`` at
    ``DENSE_TILES`` inputs a side, its first ``DENSE_TRAIN_IMAGES`` training images
    (:func:`load_seg_split`); None without segmentation data."""
    if seg_data is None:
        return None
    return load_seg_split(seg_data, size * DENSE_TILES, DENSE_TRAIN_IMAGES)


def dense_probe_key(seg_data: Optional[str]):
    """The dense probe's settings, for the key of a stage that runs it (False: none)."""
    return seg_data is not None and (DENSE_TILES, DENSE_TRAIN_IMAGES)


def frozen_evaluation(encoder, train, val, seg=None) -> dict:
    """k-NN (final features, and every block's), 10-per-class k-NN, linear probe and, for
    a ViT, per block: the average attention distance (mean over heads), the attention-head
    diversity and the linear CKA of the block's patch tokens to the last block's
    (``NUM_AAD_IMAGES`` validation images) of ``encoder`` (one of our tapped backbones; one
    analysis of an encoder, also used for the untrained reference). A Swin's attention
    stays within its windows and its stages differ in resolution: those three are None.
    With ``seg`` (:func:`load_seg_split`, canvases a multiple of the encoder's input
    size): the mIoU of a dense linear probe of the final patch tokens, the canvases
    encoded as tiles of the encoder's input size (else None)."""
    from ..analysis.encoder import has_cls_token
    from ..analysis.metrics import dense_probe_miou, knn_accuracy, linear_probe_accuracy
    from ..analysis.reports import analyse, block_features, patch_features
    num_classes = len(train[2])
    dense = None
    if seg is not None:
        tile = train[0].shape[-1]
        (seg_x, seg_y), (seg_vx, seg_vy), seg_classes = seg
        dense = dense_probe_miou(patch_features(encoder, seg_x, tile), seg_y,
                                 patch_features(encoder, seg_vx, tile), seg_vy,
                                 len(seg_classes))['miou']
    features = block_features(encoder, train[0]), block_features(encoder, val[0])
    (train_x, train_y), (val_x, val_y) = (features[0], train[1]), (features[1], val[1])
    few = [knn_accuracy(train_x['final'][idx], train_y[idx], val_x['final'], val_y,
                        num_classes) for idx in _few_shot_subsets(train_y, num_classes)]
    blocks = dict(aad=None, diversity=None, cka=None)
    if has_cls_token(encoder):  # a ViT: attention over the whole image, one token grid
        facts = encoder.facts()
        blocks = analyse(encoder, dict(grid=facts['patch_grid'],
                                       patch_size=facts['patch_size']),
                         val[0][:NUM_AAD_IMAGES], which=('aad', 'diversity', 'cka'))
    return dict(
        knn=knn_accuracy(train_x['final'], train_y, val_x['final'], val_y, num_classes),
        knn_few_shot=float(np.mean(few)) if few else None,
        linear=linear_probe_accuracy(train_x['final'], train_y, val_x['final'], val_y,
                                     num_classes),
        knn_blocks=[knn_accuracy(a, train_y, b, val_y, num_classes)
                    for a, b in zip(train_x['blocks'], val_x['blocks'])],
        aad_blocks=None if blocks['aad'] is None else [float(np.mean(heads))
                                                        for heads in blocks['aad']],
        diversity_blocks=blocks['diversity'],
        cka_blocks=None if blocks['cka'] is None else [row[-1] for row in blocks['cka']],
        dense_miou=dense, num_train=len(train_y), num_val=len(val_y), classes=list(train[2]))


def evaluate(spec: RunSpec, checkpoint: str, checkpoint_sha256: str, report: Report) -> dict:
    """The frozen-feature evaluations of the run's student encoder and, when its final
    decoder predicts pixels (MAE family, SimMIM), its reconstructions
    (``reconstruction.npz``; else None)."""
    from ..analysis.reconstruction import (
        build_pretraining_model,
        pretraining_config,
        reconstruct_any,
    )
    key = digest(dict(checkpoint=checkpoint_sha256, data=spec.data_key,
                      few_shot=(FEW_SHOT, FEW_SHOT_DRAWS), aad=NUM_AAD_IMAGES,
                      reconstructed=(NUM_RECONSTRUCTED, RECONSTRUCTION_SEED),
                      dense=dense_probe_key(spec.seg_data)))
    path = osp.join(spec.run_dir, 'evaluate.json')
    result = _cached(path, key, spec.force)
    if result is not None:
        return dict(result, reused=True)
    report('evaluate', 0, 3)
    model = build_pretraining_model(checkpoint)
    encoder, facts = model.backbone, model.backbone.facts()
    size = facts['patch_grid'][0] * facts['patch_size']
    train, val = load_split(spec.data, size)
    seg = dense_probe_data(spec.seg_data, size)
    report('evaluate', 1, 3)
    result = frozen_evaluation(encoder, train, val, seg)
    report('evaluate', 2, 3)
    # the blocks the method's supervisions read (DeepMIM's and DDAE's taps; none for LUT)
    result['supervised_blocks'] = sorted({block for c in model.supervisions.values()
                                          for block in c.required_taps})
    labels = val[1].tolist()
    first = [labels.index(c) for c in range(len(val[2])) if c in labels]
    images = val[0][first[:NUM_RECONSTRUCTED]]
    recon = reconstruct_any(model, pretraining_config(checkpoint), images,
                            seed=RECONSTRUCTION_SEED)
    result.update(reconstruction=None, reconstruction_mse=None)
    if recon is not None:
        arrays = dict(images=images.numpy(), mask=recon['mask'].numpy(),
                      final=recon['images']['final'].numpy(),
                      patch_size=np.array(facts['patch_size']))
        npz = osp.join(spec.run_dir, 'reconstruction.npz')
        atomic_write(npz, lambda f: np.savez(f, **arrays))
        result.update(reconstruction=npz,
                      reconstruction_mse=float(recon['errors']['final'].mean()))
    report('evaluate', 3, 3)
    return dict(_store(path, key, result), reused=False)


def finetune(spec: RunSpec, checkpoint: Optional[str], checkpoint_sha256: Optional[str],
             report: Report) -> dict:
    """Fine-tune the run's encoder end to end on the labelled subset (``checkpoint``
    None: the untrained ViT); top-1 on the whole validation set."""
    from ..checkpoints import convert_checkpoint
    work_dir = osp.join(spec.run_dir, 'finetune')
    backbone = None if checkpoint is None else osp.join(work_dir, 'backbone.pth')
    cfg = finetune_cfg(spec, backbone)
    with open(spec.labelled) as f:
        labelled = f.read()
    key = digest(dict(checkpoint=checkpoint_sha256, config=cfg.pretty_text,
                      data=spec.data_key, labelled=labelled))
    path = osp.join(spec.run_dir, 'finetune.json')
    result = _cached(path, key, spec.force)
    if result is not None:
        return dict(result, reused=True)
    if checkpoint is not None:
        convert_checkpoint(checkpoint, backbone, target='mmpretrain')
    runner, seconds = _train(cfg, work_dir, f'main_job-{spec.method}-{spec.seed}-finetune',
                             _progress_hook('finetune', report))  # validates at the end
    result = dict(top1=float(runner.message_hub.get_scalar('val/accuracy/top1').current()),
                  iterations=runner.iter, labelled=labelled.count('\n'), seconds=seconds)
    return dict(_store(path, key, result), reused=False)


def read_classes(seg_data: str) -> List[str]:
    path = osp.join(seg_data, 'classes.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{seg_data}: expected classes.txt (one class name per line; '
                                f'label value 1 + i in annotations/ is class i, 0 ignored)')
    with open(path) as f:
        classes = [line.strip() for line in f if line.strip()]
    if len(classes) < 2:
        raise ValueError(f'{path}: expected at least two class names, got {classes}')
    return classes


def segment(spec: RunSpec, checkpoint: Optional[str], checkpoint_sha256: Optional[str],
            report: Report) -> dict:
    """Fine-tune the tiny UperNet from the run's encoder (``checkpoint`` None: the
    untrained ViT); mIoU and aAcc on validation."""
    from ..checkpoints import convert_checkpoint
    classes = read_classes(spec.seg_data)
    work_dir = osp.join(spec.run_dir, 'segment')
    backbone = None if checkpoint is None else osp.join(work_dir, 'backbone_mmseg.pth')
    cfg = segment_cfg(spec, classes, backbone)
    key = digest(dict(checkpoint=checkpoint_sha256, config=cfg.pretty_text,
                      data=spec.data_key))
    path = osp.join(spec.run_dir, 'segment.json')
    result = _cached(path, key, spec.force)
    if result is not None:
        return dict(result, reused=True)
    if checkpoint is not None:
        convert_checkpoint(checkpoint, backbone, target='mmseg')
    runner, seconds = _train(cfg, work_dir, f'main_job-{spec.method}-{spec.seed}-seg',
                             _progress_hook('segment', report))  # validates at the end
    hub = runner.message_hub
    result = dict(miou=float(hub.get_scalar('val/mIoU').current()),
                  aacc=float(hub.get_scalar('val/aAcc').current()),
                  iterations=cfg.train_cfg.max_iters, seconds=seconds)
    return dict(_store(path, key, result), reused=False)


# --------------------------------------------------------------------------------------
# one run, in a worker process
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def console_to(path: Optional[str]):
    """Send this process's stdout and stderr (mmengine's console log among them) to
    ``path`` for the duration; ``None`` leaves them as they are."""
    if path is None:
        yield
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, 'a') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run(spec: RunSpec, events=None) -> dict:
    """Run the stages of ``spec`` in order, reusing what is on disk. ``events`` (a queue,
    or None) receives ``(method, seed, stage, done, total)`` progress tuples and
    ``(method, seed, stage, 'done', result)`` at the end of each stage."""
    def report(stage, done, total):
        if events is not None:
            events.put((spec.method, spec.seed, stage, done, total))

    def finished(stage, result):
        if events is not None:
            events.put((spec.method, spec.seed, stage, 'done', result))
        return result

    from mmengine.registry import init_default_scope
    results = dict(spec=asdict(spec))
    log = None if spec.verbose else osp.join(spec.run_dir, 'console.log')
    with console_to(log):
        init_default_scope('mmpretrain')
        trained = finished('pretrain', pretrain(spec, report))
        results['pretrain'] = trained
        checkpoint, sha = trained['checkpoint'], trained['checkpoint_sha256']
        results['evaluate'] = finished('evaluate', evaluate(spec, checkpoint, sha, report))
        if spec.finetune_config is not None:
            results['finetune'] = finished('finetune', finetune(spec, checkpoint, sha,
                                                                report))
        if spec.seg_data is not None:
            results['segment'] = finished('segment', segment(spec, checkpoint, sha, report))
            init_default_scope('mmpretrain')  # mmseg's Runner made mmseg the default
    return results


def quiet_imports() -> None:
    """mmengine imports setuptools' deprecated pkg_resources: one warning per process that
    says nothing about the job."""
    import warnings
    warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)


def init_worker(threads: int) -> None:
    """A worker process's start: ``threads`` torch threads, mmengine's registries."""
    quiet_imports()
    import torch
    torch.set_num_threads(threads)
    import mim_deepsup  # noqa: F401  (registers our components)
