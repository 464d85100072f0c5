"""Measure the training step (forward + backward + optimizer) of a config's model.

    python tools/benchmark.py CONFIG [--baseline CONFIG] [--batch-size N] [--iters N]
        [--warmup N] [--precision {config,fp32,bf16}] [--default-malloc]
        [--cfg-options k=v ...] [--baseline-cfg-options k=v ...]
    python tools/benchmark.py --table [--family {mae,beitv2}] [--out FILE]
        [--configs [LABEL=]CONFIG ...] [--baseline [LABEL=]CONFIG]
        [--combination COMBINED PART PART] [--batch-size N] [--iters N] [--warmup N]
        [--no-memory] [--default-malloc] [--cfg-options k=v ...]
        [--baseline-cfg-options k=v ...]
    python tools/benchmark.py --data [LABEL=]CONFIG ... [--images N] [--iters N]

A config may also be named as ``mmpretrain::mae/...py``. ``--data`` times the training
pipelines instead of the step (:mod:`.data`).

Random images at the model's real input size (one batch per view the model reads, with the
masks the pipeline's mask generator would add) go through the model's own data
preprocessor and ``train_step``, followed by the EMA teacher's update when the model has a
teacher (as ``EMATeacherHook`` does after each step), at training progress 0.5 (as
``TrainingProgressHook`` would publish it half-way through training). A frozen target
generator that would load pretrained weights (BEiT-v2's VQ-KD) keeps its random ones: the
timing is the same.

With ``--baseline``, the two models are timed in the same process, alternating step by
step, so both see the same machine state. Reported: median step time, images/s, peak memory
(CUDA: max allocated; CPU: peak resident memory of a child process that runs the same steps
alone), the FLOPs of one step (forward + backward, counted by torch's FlopCounterMode:
matrix products, convolutions, attention), the ratio of the medians next to the ratio the
FLOPs predict, and the spread of the per-step ratios (each step over the baseline's next).

``--table`` measures a family of ViT-B/16 pretraining configs (``FAMILIES``: every method
on MAE, into docs/benchmarks.md; the BEiT-v2 configs with ``--family beitv2``, into
docs/benchmarks-beitv2.md; or ``--configs`` against ``--baseline``) against the mmpretrain
config they build on, run with the fused AdamW our bases switch on, so that a ratio
measures what a method adds and not the optimizer (the config as released is a row of its
own). It runs in one process, in fp32 and in bf16 (the step under ``BF16OptimWrapper``).
Each config is built in turn; every timed round runs its fp32 step, the baseline's fp32
step, its bf16 step and the baseline's bf16 step, so the paired ratios compare steps taken
under the same machine state. The Markdown tables (and a line comparing DDAE+LUT's extra
cost with DDAE's plus LUT's) are rewritten atomically after each config, so an interrupted
run leaves the rows measured so far.
"""
import argparse
import logging
import os.path as osp
import statistics
import time

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from .cpu_tuning import keep_freed_memory
from .steps import (
    DEFAULT_DEVICE,
    FAMILIES,
    PRECISIONS,
    build_step,
    peak_memory_mib,
    resident_peak_mib,
    step_flops,
)
from .table import run_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a config\'s training step')
    parser.add_argument('config', nargs='?', help='the config to time (not with --table)')
    parser.add_argument('--baseline', help='a second config, timed alternately; with '
                        '--table, [LABEL=]CONFIG (default: the --family\'s)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iters', type=int, default=10, help='timed steps per config')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per config')
    parser.add_argument('--device', default=DEFAULT_DEVICE)
    parser.add_argument('--precision', choices=('config', ) + PRECISIONS, default='config',
                        help='the step\'s optim wrapper: the config\'s own (AmpOptimWrapper '
                        'becomes fp32 without CUDA), OptimWrapper (fp32) or BF16OptimWrapper')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory pass')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOPs count')
    parser.add_argument('--default-malloc', action='store_true',
                        help='keep glibc malloc\'s defaults instead of keeping freed memory '
                        'for the next step, as tools/train.py does (docs/performance.md)')
    parser.add_argument('--memory-child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override keys of CONFIG (with --table: of every row, added to '
                        'a family row\'s own; never of the baseline)')
    parser.add_argument('--baseline-cfg-options', nargs='+', action=DictAction,
                        help='override keys of the baseline (with --table: added to the '
                        'family baseline\'s own, e.g. optim_wrapper.optimizer.fused=True)')
    data = parser.add_argument_group('data mode')
    data.add_argument('--data', nargs='+', metavar='[LABEL=]CONFIG',
                      help='time these configs\' training pipelines instead of the step: CPU '
                      'ms per image and per transform on generated 500x375 JPEGs, in one '
                      'process (the first is the baseline of the ratios)')
    data.add_argument('--images', type=int, default=32, help='JPEGs per round (data mode)')
    table = parser.add_argument_group('table mode')
    table.add_argument('--table', action='store_true',
                       help='time every config against the baseline, in fp32 and bf16, '
                       'and write Markdown tables')
    table.add_argument('--family', choices=sorted(FAMILIES),
                       help='the configs, baseline, combination and output file of the '
                       'table: every method on MAE against mmpretrain\'s MAE (mae), or the '
                       'BEiT-v2 configs against mmpretrain\'s BEiT-v2 (beitv2); the options '
                       'below override them')
    table.add_argument('--configs', nargs='+', metavar='[LABEL=]CONFIG',
                       help='the configs of the table (default: the family\'s)')
    table.add_argument('--precisions', nargs='+', choices=PRECISIONS, default=list(PRECISIONS))
    table.add_argument('--combination', nargs=3, metavar=('COMBINED', 'PART', 'PART'),
                       help='labels of a combined method and its two parts, whose extra '
                       'costs over the baseline are compared (default: the family\'s)')
    table.add_argument('--out', help='the Markdown file the table mode writes (default: the '
                       'family\'s, docs/benchmarks.md for mae)')
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error('--batch-size and --iters must be >= 1, --warmup >= 0')
    if sum((args.table, args.config is not None, args.data is not None)) != 1:
        parser.error('give one of CONFIG, --table or --data')
    if args.data and args.iters < 2:
        parser.error('--data needs --iters >= 2 (the first round warms up)')
    if (args.configs or args.family) and not args.table:
        parser.error('--configs and --family are for --table')
    if args.baseline_cfg_options and not (args.baseline or args.table):
        parser.error('--baseline-cfg-options needs --baseline')
    args.family = args.family or 'mae'
    family = FAMILIES[args.family]
    if args.out is None:
        args.out = family.out
    if args.combination is None and family.combination:  # skipped where a label is missing
        args.combination = list(family.combination)
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    # the allocator tools/train.py trains with
    if device.type != 'cpu':
        args.malloc = 'malloc defaults (not a CPU run)'
    elif args.default_malloc:
        args.malloc = 'malloc defaults (`--default-malloc`)'
    else:
        args.malloc = keep_freed_memory()
    if not args.memory_child:
        print(args.malloc)
    # mmengine reports every parameter's initialisation at INFO: keep the output to results
    logger = MMLogger.get_instance('mmengine')
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        if args.data:
            run_data(args)
        elif args.table:
            run_table(args, device)
        else:
            run(args, device)
    finally:
        logger.setLevel(level)


def run_data(args):
    """Data mode: each config's pipeline timed on the same generated JPEGs."""
    import tempfile

    from .data import data_table, make_jpegs, time_pipelines
    from .table import parse_entry
    entries = [parse_entry(text) for text in args.data]
    with tempfile.TemporaryDirectory() as folder:
        images = make_jpegs(folder, args.images)
        print(f'timing {len(entries)} pipelines on {len(images)} JPEGs, {args.iters} '
              f'interleaved rounds (the first a warm-up)', flush=True)
        results = time_pipelines({e.label: e.config for e in entries}, images,
                                 rounds=args.iters)
    print(data_table(results, next(iter(results))), end='')


def run(args, device):
    if args.memory_child:  # run alone, print the peak resident memory in MiB
        step, _, _ = build_step(args.config, args.batch_size, device, args.cfg_options,
                                args.precision)
        for _ in range(args.iters):
            step()
        print(resident_peak_mib())
        return

    configs = [(args.config, args.cfg_options)]
    if args.baseline:
        configs.append((args.baseline, args.baseline_cfg_options))
    steps, sizes = [], []
    for config, options in configs:
        step, size, _ = build_step(config, args.batch_size, device, options, args.precision)
        steps.append(step)
        sizes.append(size)
    for _ in range(args.warmup):
        for step in steps:
            step()
    times = [[] for _ in steps]
    for _ in range(args.iters):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)

    print(f'device {device}, batch {args.batch_size}, {args.iters} timed steps after '
          f'{args.warmup} warm-up, torch {torch.__version__}, threads '
          f'{torch.get_num_threads()}')
    medians, flops = [], []
    for (config, options), size, t, step in zip(configs, sizes, times, steps):
        median = statistics.median(t)
        medians.append(median)
        memory = ''
        if not args.no_memory:
            peak = peak_memory_mib(config, args.batch_size, args.warmup + 1, device, options,
                                   args.precision, args.default_malloc)
            memory = f', peak memory {peak:.0f} MiB'
        count = None if args.no_flops else step_flops(step)
        if count is not None:
            flops.append(count)
            memory += f', {count / 1e9:.1f} GFLOP/step ({count / 1e9 / median:.0f} GFLOP/s)'
        print(f'{osp.basename(config)} ({size} px): step {median:.3f} s (min {min(t):.3f}, '
              f'max {max(t):.3f}), {args.batch_size / median:.1f} images/s{memory}')
    if args.baseline:
        # each timed step of CONFIG over the baseline's step right after it
        paired = sorted(a / b for a, b in zip(*times))
        quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
        print(f'paired step ratios: median {statistics.median(paired):.3f}, quartiles '
              f'{quartiles[0]:.3f}-{quartiles[2]:.3f}, {sum(r < 1 for r in paired)} of '
              f'{len(paired)} below 1')
        if len(flops) == 2:
            print(f'FLOPs ratio to baseline: {flops[0] / flops[1]:.3f}')
        print(f'ratio to baseline: {medians[0] / medians[1]:.3f}')
