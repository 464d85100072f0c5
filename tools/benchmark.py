"""Measure the training step (forward + backward + optimizer) of a config's model.

    python tools/benchmark.py CONFIG [--baseline CONFIG] [--batch-size N] [--iters N]
        [--warmup N] [--cfg-options k=v ...]

A config may also be named as ``mmpretrain::mae/...py``.

Random images at the model's real input size (one batch per view the model reads) go
through the model's own data preprocessor and ``train_step``, followed by the EMA teacher's
update when the model has a teacher (as ``EMATeacherHook`` does after each step). With
``--baseline``, the two models are timed in the same process, alternating step by step, so
both see the same machine state. Reported: median step time, images/s, peak memory (CUDA:
max allocated; CPU: peak resident memory of a child process that runs the same steps
alone), the FLOPs of one step (forward + backward, counted by torch's FlopCounterMode:
matrix products, convolutions, attention), the ratio of the medians next to the ratio the
FLOPs predict, and the spread of the per-step ratios (each step over the baseline's next).
"""
import argparse
import logging
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mim_deepsup  # noqa: E402,F401


def build_step(config: str, batch_size: int, device: torch.device, cfg_options=None):
    """Build the model and optimizer of ``config``; return (step function, input size,
    model)."""
    # 'mmpretrain::mae/...py' names a config shipped with mmpretrain
    cfg = get_config(config) if '::' in config else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    optim_cfg = cfg.optim_wrapper.copy()
    if optim_cfg.get('type') == 'AmpOptimWrapper' and device.type != 'cuda':
        # mmengine's AmpOptimWrapper needs an accelerator: time the fp32 step instead
        print(f'{config}: AmpOptimWrapper needs CUDA; timing the fp32 OptimWrapper step')
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    size = cfg.model.backbone.get('img_size', 224)
    generator = torch.Generator().manual_seed(0)
    # what PackInputs + default_collate give: a (B, 3, H, W) uint8 batch, or a list of
    # V of them when the model reads V views of each image (MultiView)
    views = [torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8,
                           generator=generator)
             for _ in range(getattr(model, 'num_views', 1))]
    data = dict(inputs=views[0] if len(views) == 1 else views,
                data_samples=[DataSample() for _ in range(batch_size)])

    teacher = getattr(model, 'teacher', None) is not None

    def step():
        model.train_step(data, optim_wrapper)
        if teacher:  # what EMATeacherHook does after every optimizer step
            model.update_teacher(0.0)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    return step, size, model


def step_flops(step) -> Optional[float]:
    """FLOPs of one training step as torch's FlopCounterMode counts them (torch >= 2.1)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def resident_peak_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux: VmHWM, which belongs to the address space exec created. (ru_maxrss would also
    count the parent's resident set at fork: the kernel carries it across exec.)
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mib(config, batch_size, steps, device, cfg_options=None) -> float:
    """CUDA: max allocated memory of ``steps`` steps; CPU: peak resident memory of a fresh
    process of this script that builds the model and runs the same steps alone."""
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        step, _, _ = build_step(config, batch_size, device, cfg_options)
        for _ in range(steps):
            step()
        return torch.cuda.max_memory_allocated(device) / 2**20
    cmd = [sys.executable, osp.abspath(__file__), config, '--batch-size', str(batch_size),
           '--iters', str(steps), '--memory-child']
    if cfg_options:
        cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in cfg_options.items()]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a config\'s training step')
    parser.add_argument('config')
    parser.add_argument('--baseline', help='a second config, timed alternately')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iters', type=int, default=10, help='timed steps per config')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per config')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory pass')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOPs count')
    parser.add_argument('--memory-child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override keys of CONFIG (not of the baseline)')
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error('--batch-size and --iters must be >= 1, --warmup >= 0')
    device = torch.device(args.device)
    # mmengine reports every parameter's initialisation at INFO: keep the output to results
    logger = MMLogger.get_instance('mmengine')
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        run(args, device)
    finally:
        logger.setLevel(level)


def run(args, device):
    if args.memory_child:  # run alone, print the peak resident memory in MiB
        step, _, _ = build_step(args.config, args.batch_size, device, args.cfg_options)
        for _ in range(args.iters):
            step()
        print(resident_peak_mib())
        return

    configs = [(args.config, args.cfg_options)]
    if args.baseline:
        configs.append((args.baseline, None))
    steps, sizes = [], []
    for config, options in configs:
        step, size, _ = build_step(config, args.batch_size, device, options)
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
            peak = peak_memory_mib(config, args.batch_size, args.warmup + 1, device, options)
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


if __name__ == '__main__':
    main()
