"""Measure the training step (forward + backward + optimizer) of a config's model.

    python tools/benchmark.py CONFIG [--baseline CONFIG] [--batch-size N] [--iters N]
        [--warmup N] [--precision {config,fp32,bf16}] [--default-malloc]
        [--cfg-options k=v ...] [--baseline-cfg-options k=v ...]
    python tools/benchmark.py --table [--family {mae,beitv2}] [--out FILE]
        [--configs [LABEL=]CONFIG ...] [--baseline [LABEL=]CONFIG]
        [--combination COMBINED PART PART] [--batch-size N] [--iters N] [--warmup N]
        [--no-memory] [--default-malloc] [--cfg-options k=v ...]
        [--baseline-cfg-options k=v ...]

A config may also be named as ``mmpretrain::mae/...py``.

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
import datetime
import gc
import logging
import os
import os.path as osp
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, OPTIM_WRAPPERS, TRANSFORMS
from mmpretrain.structures import DataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
import mim_deepsup  # noqa: E402,F401
from mim_deepsup.engine.cpu_malloc import keep_freed_memory  # noqa: E402
from mim_deepsup.fileio import atomic_write  # noqa: E402

PRECISIONS = ('fp32', 'bf16')
DEFAULT_DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
# the training progress t every step is timed at: half-way through training
PROGRESS = 0.5


class Entry(NamedTuple):
    """A row of the table: its label, its config and overrides of that config."""
    label: str
    config: str
    options: Optional[dict] = None


def _config(path: str) -> str:
    return osp.join(ROOT, 'configs', path)


class Family(NamedTuple):
    """A table: a baseline, the configs built on it, a (combined, part, part) triple whose
    extra costs over the baseline are compared (or None), and the file it is written to."""
    baseline: Entry
    configs: Sequence[Entry]
    combination: Optional[Sequence[str]]
    out: str


MMPRETRAIN_MAE = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
MMPRETRAIN_BEITV2 = 'mmpretrain::beitv2/beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'
# Our pretraining bases switch on fused AdamW (docs/performance.md); the baseline gets the
# same optimizer, so that a ratio measures what a method adds and not the optimizer. The
# config as released is a row of its own: its ratio is what the fused optimizer saves.
SAME_OPTIMIZER = {'optim_wrapper.optimizer.fused': True}

FAMILIES = dict(
    mae=Family(
        Entry('mmpretrain MAE, fused AdamW', MMPRETRAIN_MAE, SAME_OPTIMIZER),
        (Entry('mmpretrain MAE as released', MMPRETRAIN_MAE),
         Entry('MAE', _config('mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')),
         Entry('DeepMIM',
               _config('deepmim/deepmim_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')),
         Entry('DDAE', _config('ddae/ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')),
         Entry('LUT', _config('lut/lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py')),
         Entry('DDAE+LUT', _config('ddae/ddae-lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'))),
        ('DDAE+LUT', 'DDAE', 'LUT'), osp.join(ROOT, 'docs', 'benchmarks.md')),
    beitv2=Family(
        Entry('mmpretrain BEiT-v2, fused AdamW', MMPRETRAIN_BEITV2, SAME_OPTIMIZER),
        (Entry('mmpretrain BEiT-v2 as released', MMPRETRAIN_BEITV2),
         Entry('BEiT-v2',
               _config('_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')),
         Entry('BEiT-v2 + DeepMIM',
               _config('deepmim/deepmim_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')),
         Entry('BEiT-v2 + DDAE',
               _config('ddae/ddae_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'))),
        None, osp.join(ROOT, 'docs', 'benchmarks-beitv2.md')),
)


# ---------------------------------------------------------------------------------------
# building one config's step


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """The config, with the model's data preprocessor filled in as the Runner does."""
    # 'mmpretrain::mae/...py' names a config shipped with mmpretrain
    cfg = get_config(config) if '::' in config else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    generator = cfg.model.get('target_generator')
    if isinstance(generator, dict) and generator.get('init_cfg') is not None:
        generator.init_cfg = None  # no download: random weights cost the same
    return cfg


def build_optim_wrappers(model: torch.nn.Module, cfg: Config, precisions: Sequence[str],
                         device: torch.device, name: str = '') -> Dict[str, object]:
    """One optim wrapper per precision over one shared optimizer.

    ``'fp32'``: mmengine's ``OptimWrapper``; ``'bf16'``: our ``BF16OptimWrapper``;
    ``'config'``: the config's own, with mmengine's ``AmpOptimWrapper`` replaced by the fp32
    ``OptimWrapper`` where there is no CUDA (it refuses to run there).
    """
    optim_cfg = cfg.optim_wrapper.copy()
    own = optim_cfg.get('type', 'OptimWrapper')
    if 'config' in precisions and own == 'AmpOptimWrapper' and device.type != 'cuda':
        print(f'{name}: AmpOptimWrapper needs CUDA; timing the fp32 OptimWrapper step')
    if own == 'AmpOptimWrapper' and (device.type != 'cuda' or 'config' not in precisions):
        own = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    first = build_optim_wrapper(model, dict(optim_cfg, type=own))
    # the wrapper's own arguments (clip_grad, accumulative_counts, ...) without the
    # optimizer's construction and the AMP ones
    rest = {k: v for k, v in optim_cfg.items()
            if k not in ('type', 'optimizer', 'constructor', 'paramwise_cfg', 'loss_scale',
                         'dtype')}
    types = dict(config=own, fp32='OptimWrapper', bf16='BF16OptimWrapper')
    wrappers = {}
    for precision in precisions:
        if types[precision] == own:
            wrappers[precision] = first
        else:
            wrappers[precision] = OPTIM_WRAPPERS.build(
                dict(rest, type=types[precision], optimizer=first.optimizer))
    return wrappers


def _pipeline(cfg: Config) -> List[dict]:
    loader = cfg.get('train_dataloader') or {}
    return list((loader.get('dataset') or {}).get('pipeline') or [])


def random_batch(cfg: Config, model: torch.nn.Module, batch_size: int, size: int) -> dict:
    """What the config's pipeline + ``default_collate`` give, with random pixels: a
    (B, 3, H, W) uint8 batch, or a list of them when the model reads several views of each
    image (``MultiView``) or its data preprocessor two pictures (BEiT-v2's
    ``TwoNormDataPreprocessor``), and the masks of the pipeline's mask generator."""
    num_views = getattr(model, 'num_views', 1)
    preprocessor = str(cfg.model.get('data_preprocessor', {}).get('type', ''))
    if preprocessor.endswith('TwoNormDataPreprocessor'):
        num_views = max(num_views, 2)
    generator = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8,
                           generator=generator)
             for _ in range(num_views)]
    samples = [DataSample() for _ in range(batch_size)]
    for step in _pipeline(cfg):
        if str(step.get('type', '')).endswith('MaskGenerator'):
            mask_generator = TRANSFORMS.build(step)
            for sample in samples:
                sample.set_mask(mask_generator.transform({})['mask'])
    return dict(inputs=views[0] if len(views) == 1 else views, data_samples=samples)


def make_step(model: torch.nn.Module, optim_wrapper, data: dict,
              device: torch.device) -> Callable[[], None]:
    """One training step: ``train_step`` and the EMA teacher's update."""
    teacher = getattr(model, 'teacher', None) is not None

    def step():
        model.train_step(data, optim_wrapper)
        if teacher:  # what EMATeacherHook does after every optimizer step
            model.update_teacher(PROGRESS)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    return step


def set_progress(model: torch.nn.Module, progress: float) -> None:
    """What TrainingProgressHook does before each iteration: DDAE's schedule then weights
    the patches as in the middle of training, not as at t = 0, where g = 0."""
    model.set_progress(progress)


def build_steps(config: str, batch_size: int, device: torch.device, cfg_options=None,
                precisions: Sequence[str] = ('config', )):
    """Build the model of ``config`` once; return ({precision: step function}, input size,
    model). The precisions' steps share the model and its optimizer."""
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    set_progress(model, PROGRESS)
    wrappers = build_optim_wrappers(model, cfg, precisions, device, config)
    size = cfg.model.backbone.get('img_size', 224)
    data = random_batch(cfg, model, batch_size, size)
    steps = {p: make_step(model, wrappers[p], data, device) for p in precisions}
    return steps, size, model


def build_step(config: str, batch_size: int, device: torch.device, cfg_options=None,
               precision: str = 'config'):
    """Build the model and optimizer of ``config``; return (step function, input size,
    model)."""
    steps, size, model = build_steps(config, batch_size, device, cfg_options, (precision, ))
    return steps[precision], size, model


def step_flops(step) -> Optional[float]:
    """FLOPs of one training step as torch's FlopCounterMode counts them (torch >= 2.1)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------
# peak memory


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


def option_args(flag: str, options: Optional[dict]) -> List[str]:
    """``[flag, 'k=v', ...]`` for config overrides, as ``DictAction`` reads them back."""
    return [flag] + [f'{k}={v}' for k, v in options.items()] if options else []


def peak_memory_mib(config, batch_size, steps, device, cfg_options=None,
                    precision: str = 'config', default_malloc: bool = False) -> float:
    """CUDA: max allocated memory of ``steps`` steps; CPU: peak resident memory of a fresh
    process of this script that builds the model and runs the same steps alone."""
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        step, _, _ = build_step(config, batch_size, device, cfg_options, precision)
        for _ in range(steps):
            step()
        return torch.cuda.max_memory_allocated(device) / 2**20
    cmd = [sys.executable, osp.abspath(__file__), config, '--batch-size', str(batch_size),
           '--iters', str(steps), '--precision', precision, '--memory-child']
    if default_malloc:  # the child's allocator as the timed process's
        cmd.append('--default-malloc')
    cmd += option_args('--cfg-options', cfg_options)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------
# the command line


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
    if args.table == (args.config is not None):
        parser.error('give either CONFIG or --table')
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
    args.malloc = 'malloc defaults (`--default-malloc`)' if args.default_malloc else \
        keep_freed_memory()
    if not args.memory_child:
        print(args.malloc)
    # mmengine reports every parameter's initialisation at INFO: keep the output to results
    logger = MMLogger.get_instance('mmengine')
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        if args.table:
            run_table(args, device)
        else:
            run(args, device)
    finally:
        logger.setLevel(level)


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


# ---------------------------------------------------------------------------------------
# the table mode


class Measured:
    """One config's measurements: step times per precision, paired ratios to the
    baseline's step in the same round, bf16 speed-ups, FLOPs and peak memory."""

    def __init__(self, entry: Entry, size: int, flops: Optional[float]) -> None:
        self.entry, self.size, self.flops = entry, size, flops
        self.times: Dict[str, List[float]] = {}
        self.ratios: Dict[str, List[float]] = {}
        self.speedups: List[float] = []
        self.memory: Dict[str, float] = {}

    def median(self, precision: str) -> float:
        return statistics.median(self.times[precision])


def parse_entry(text: str) -> Entry:
    """``LABEL=CONFIG`` or ``CONFIG`` (labelled by its file name)."""
    label, sep, config = text.partition('=')
    if not sep:
        label, config = osp.splitext(osp.basename(text))[0], text
    return Entry(label, config)


def merged(options: Optional[dict], more: Optional[dict]) -> dict:
    """A row's own config overrides with the command line's added (theirs win)."""
    return {**(options or {}), **(more or {})}


def table_baseline(args) -> Entry:
    """``--baseline`` or the family's, with ``--baseline-cfg-options`` added."""
    base = parse_entry(args.baseline) if args.baseline else FAMILIES[args.family].baseline
    return Entry(base.label, base.config, merged(base.options, args.baseline_cfg_options))


def table_entries(args) -> List[Entry]:
    if not args.configs:
        return [Entry(e.label, e.config, merged(e.options, args.cfg_options))
                for e in FAMILIES[args.family].configs]
    entries = [Entry(e.label, e.config, args.cfg_options)
               for e in map(parse_entry, args.configs)]
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        raise SystemExit(f'--configs: labels must differ, got {labels}')
    return entries


def speedups(times: Dict[str, List[float]]) -> List[float]:
    """Each round's fp32 step over its bf16 step."""
    return [a / b for a, b in zip(times['fp32'], times['bf16'])]


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def time_against_baseline(steps: Dict[str, Callable], base_steps: Dict[str, Callable],
                          precisions: Sequence[str], warmup: int, iters: int):
    """``iters`` rounds (after ``warmup`` untimed ones) of, for each precision, the
    config's step then the baseline's. Returns the two {precision: [seconds]}."""
    for _ in range(warmup):
        for precision in precisions:
            steps[precision]()
            base_steps[precision]()
    times = {p: [] for p in precisions}
    base_times = {p: [] for p in precisions}
    for _ in range(iters):
        for precision in precisions:
            times[precision].append(timed(steps[precision]))
            base_times[precision].append(timed(base_steps[precision]))
    return times, base_times


def build_measured(entry: Entry, args, device, precisions):
    """Build ``entry``'s steps and count the FLOPs of one (fp32) step."""
    steps, size, model = build_steps(entry.config, args.batch_size, device, entry.options,
                                     precisions)
    flops = None if args.no_flops else step_flops(steps[precisions[0]])
    return steps, model, Measured(entry, size, flops)


def measure_memory(measured: Measured, args, device, precisions) -> None:
    if args.no_memory:
        return
    for precision in precisions:
        measured.memory[precision] = peak_memory_mib(
            measured.entry.config, args.batch_size, args.warmup + 1, device,
            measured.entry.options, precision, args.default_malloc)


def run_table(args, device):
    precisions = list(dict.fromkeys(args.precisions))
    baseline = table_baseline(args)
    entries = table_entries(args)
    context = machine_context(args, device, baseline, entries, precisions)
    base_steps, _, base = build_measured(baseline, args, device, precisions)
    for precision in precisions:
        base.times[precision] = []
    measure_memory(base, args, device, precisions)
    rows: List[Measured] = []
    text = ''
    for entry in entries:
        print(f'== {entry.label}: {entry.config}', flush=True)
        steps, model, measured = build_measured(entry, args, device, precisions)
        times, base_times = time_against_baseline(steps, base_steps, precisions,
                                                  args.warmup, args.iters)
        del steps, model
        gc.collect()
        measured.times = times
        for precision in precisions:
            base.times[precision] += base_times[precision]
            measured.ratios[precision] = [a / b for a, b in
                                          zip(times[precision], base_times[precision])]
        if set(PRECISIONS) <= set(precisions):
            measured.speedups = speedups(times)
            base.speedups = speedups(base.times)  # the same rounds as every config's
        measure_memory(measured, args, device, precisions)
        rows.append(measured)
        text = render(context, base, rows, precisions, args, len(entries))
        atomic_write(args.out, lambda f, text=text: f.write(text.encode()))
        print(row_summary(measured, base, precisions), flush=True)
    print(text)
    print(f'written to {args.out}')


# ---------------------------------------------------------------------------------------
# the Markdown


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_context(args, device, baseline: Entry, entries: List[Entry],
                    precisions: Sequence[str]) -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None
    machine = f'{cpu_model()}, {os.cpu_count()} logical cores'
    if usable is not None and usable != os.cpu_count():
        machine += f' ({usable} usable)'
    if device.type == 'cuda':
        machine += f'; {torch.cuda.get_device_name(device)}'
    return dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=machine, device=str(device), torch=torch.__version__,
        threads=torch.get_num_threads(), baseline=baseline, entries=entries,
        precisions=list(precisions), command=command_line(args))


def command_line(args) -> str:
    parts = ['python', 'tools/benchmark.py', '--table']
    if args.family != 'mae':
        parts += ['--family', args.family]
    if args.configs:
        parts += ['--configs'] + list(args.configs)
    if args.baseline:
        parts += ['--baseline', args.baseline]
    family_combination = FAMILIES[args.family].combination
    if args.combination and args.combination != list(family_combination or ()):
        parts += ['--combination'] + list(args.combination)
    parts += ['--batch-size', str(args.batch_size), '--iters', str(args.iters), '--warmup',
              str(args.warmup)]
    if args.device != DEFAULT_DEVICE:
        parts += ['--device', args.device]
    parts += option_args('--cfg-options', args.cfg_options)
    parts += option_args('--baseline-cfg-options', args.baseline_cfg_options)
    if list(args.precisions) != list(PRECISIONS):
        parts += ['--precisions'] + list(args.precisions)
    if args.no_memory:
        parts.append('--no-memory')
    if args.no_flops:
        parts.append('--no-flops')
    if args.default_malloc:
        parts.append('--default-malloc')
    return ' '.join(shlex.quote(part) for part in parts + ['--out', _short(args.out)])


COLUMNS = ('method', 'step (s)', 'images/s', 'peak memory (MiB)', 'ratio to baseline',
           'quartiles of ratio', 'FLOPs ratio', 'ratio / FLOPs ratio', 'GFLOP/step',
           'GFLOP/s')
SPEEDUP_COLUMN = 'speed-up over fp32'


def _fmt(value: Optional[float], digits: int, kind: str = 'f') -> str:
    return '—' if value is None else f'{value:.{digits}{kind}}'


def _quartiles(values: List[float]) -> str:
    if len(values) < 2:
        return '—'
    # inclusive: within the measured range, also for 2 or 3 steps
    low, _, high = statistics.quantiles(values, n=4, method='inclusive')
    return f'{low:.3f} to {high:.3f}'


def table_row(m: Measured, base: Measured, precision: str, batch_size: int,
              speedup: bool) -> str:
    median = m.median(precision)
    is_base = m is base
    ratio = 1.0 if is_base else statistics.median(m.ratios[precision])
    flops_ratio = (m.flops / base.flops) if m.flops and base.flops else None
    cells = [m.entry.label if not is_base else f'{m.entry.label} (baseline)',
             f'{median:.3f}', f'{batch_size / median:.2f}',
             _fmt(m.memory.get(precision), 0), f'{ratio:.3f}',
             '—' if is_base else _quartiles(m.ratios[precision]),
             _fmt(flops_ratio, 3), _fmt(ratio / flops_ratio if flops_ratio else None, 3),
             _fmt(m.flops / 1e9 if m.flops else None, 4, 'g'),
             _fmt(m.flops / 1e9 / median if m.flops else None, 4, 'g')]
    if speedup:
        cells.append(_fmt(statistics.median(m.speedups) if m.speedups else None, 2))
    return '| ' + ' | '.join(cells) + ' |'


def precision_table(base: Measured, rows: List[Measured], precision: str,
                    batch_size: int, precisions: Sequence[str]) -> List[str]:
    speedup = precision == 'bf16' and 'fp32' in precisions
    columns = COLUMNS + ((SPEEDUP_COLUMN, ) if speedup else ())
    title = dict(fp32='fp32 (`OptimWrapper`)',
                 bf16='bf16 autocast (`BF16OptimWrapper`)')[precision]
    lines = [f'## {title}', '', '| ' + ' | '.join(columns) + ' |',
             '|' + '|'.join('---' for _ in columns) + '|']
    for m in [base] + rows:
        lines.append(table_row(m, base, precision, batch_size, speedup))
    return lines + ['']


def extra(m: Measured, precision: str, base: Measured) -> Dict[str, Optional[float]]:
    """A method's cost beyond the baseline's step, in baseline steps (time and FLOPs)."""
    time_extra = statistics.median(m.ratios[precision]) - 1
    flops_extra = m.flops / base.flops - 1 if m.flops and base.flops else None
    return dict(time=time_extra, flops=flops_extra)


def combination_lines(base: Measured, rows: List[Measured], labels: Sequence[str],
                      precisions: Sequence[str]) -> List[str]:
    """The combination's extra cost over the baseline against the sum of its parts'."""
    by_label = {m.entry.label: m for m in rows}
    if not all(label in by_label for label in labels):
        return []
    combined, first, second = (by_label[label] for label in labels)
    lines = [f'## {labels[0]} against {labels[1]} and {labels[2]} separately', '',
             f'Extra cost = a method\'s step over the baseline\'s, minus 1 (in baseline '
             f'steps). Saving = 1 - extra({labels[0]}) / (extra({labels[1]}) + '
             f'extra({labels[2]})): above 0, the combination costs less than running both '
             f'extras.', '',
             f'| precision | extra({labels[0]}) | extra({labels[1]}) + extra({labels[2]}) '
             f'| saving | saving predicted by FLOPs |', '|---|---|---|---|---|']
    for precision in precisions:
        c, a, b = (extra(m, precision, base) for m in (combined, first, second))
        parts = a['time'] + b['time']
        saving = 1 - c['time'] / parts if parts else None
        flops_saving = None
        if c['flops'] is not None and a['flops'] + b['flops']:
            flops_saving = 1 - c['flops'] / (a['flops'] + b['flops'])
        lines.append(f'| {precision} | {c["time"]:.3f} | {a["time"]:.3f} + {b["time"]:.3f} = '
                     f'{parts:.3f} | {_fmt(saving, 3)} | {_fmt(flops_saving, 3)} |')
    return lines + ['']


def render(context: dict, base: Measured, rows: List[Measured], precisions: Sequence[str],
           args, total: int) -> str:
    status = ('' if len(rows) == total else
              f' **Partial: {len(rows)} of {total} configs measured so far.**')
    lines = [
        '# Training-step benchmark', '',
        f'Written by `tools/benchmark.py --table` on {context["date"]}.{status}', '',
        f'- machine: {context["machine"]}; device {context["device"]}, torch '
        f'{context["torch"]}, {context["threads"]} threads; {args.malloc}',
        f'- batch {args.batch_size}, {args.iters} timed step{"s" * (args.iters != 1)} per '
        f'config and precision after {args.warmup} warm-up; a step is forward, backward, '
        f'optimizer and EMA-teacher update on random images at the model\'s input size '
        f'({base.size} px for the baseline)',
        f'- baseline: {base.entry.label} ({_described(base.entry)}); every round runs each '
        f'precision\'s step of a config, then the baseline\'s, so each ratio pairs two '
        f'steps taken under the same machine state; "ratio to baseline" is the median of those '
        f'paired ratios, the baseline\'s step its median over all rounds',
        '- FLOPs: one step (forward + backward) counted by torch\'s FlopCounterMode '
        '(matrix products, convolutions, attention); the same count for both precisions',
        '- peak memory: ' + ('not measured (`--no-memory`)' if args.no_memory else
                             'CUDA: max allocated; CPU: peak resident set (VmHWM) of a '
                             'child process running warm-up + 1 steps of that config alone'),
        f'- command: `{context["command"]}`', '']
    for precision in precisions:
        lines += precision_table(base, rows, precision, args.batch_size, precisions)
    if args.combination:
        lines += combination_lines(base, rows, args.combination, precisions)
    lines += ['## Configs', '']
    lines += [f'- {e.label}: {_described(e)}' for e in [base.entry] + context['entries']]
    return '\n'.join(lines) + '\n'


def _described(entry: Entry) -> str:
    """The entry's config and the overrides it is run with, as Markdown."""
    text = f'`{_short(entry.config)}`'
    if entry.options:
        text += ' with ' + ', '.join(f'`{k}={v}`' for k, v in entry.options.items())
    return text


def _short(path: str) -> str:
    """``path`` relative to the repository when it is inside it."""
    inside = osp.isabs(path) and osp.commonpath([ROOT, osp.abspath(path)]) == ROOT
    return osp.relpath(path, ROOT) if inside else path


def row_summary(m: Measured, base: Measured, precisions: Sequence[str]) -> str:
    parts = [f'{p} {m.median(p):.3f} s (ratio {statistics.median(m.ratios[p]):.3f})'
             for p in precisions]
    if m.flops and base.flops:
        parts.append(f'FLOPs ratio {m.flops / base.flops:.3f}')
    return f'{m.entry.label}: ' + ', '.join(parts)


if __name__ == '__main__':
    main()
