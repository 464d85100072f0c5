"""The table mode: a family of configs timed against a baseline in fp32 and bf16, written
as Markdown tables."""
import datetime
import gc
import os
import os.path as osp
import platform
import shlex
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from ..fileio import REPO_ROOT, atomic_write
from .steps import (
    DEFAULT_DEVICE,
    FAMILIES,
    PRECISIONS,
    Entry,
    build_steps,
    option_args,
    peak_memory_mib,
    step_flops,
)


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
    inside = osp.isabs(path) and osp.commonpath([REPO_ROOT, osp.abspath(path)]) == REPO_ROOT
    return osp.relpath(path, REPO_ROOT) if inside else path


def row_summary(m: Measured, base: Measured, precisions: Sequence[str]) -> str:
    parts = [f'{p} {m.median(p):.3f} s (ratio {statistics.median(m.ratios[p]):.3f})'
             for p in precisions]
    if m.flops and base.flops:
        parts.append(f'FLOPs ratio {m.flops / base.flops:.3f}')
    return f'{m.entry.label}: ' + ', '.join(parts)

