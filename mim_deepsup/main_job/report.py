"""The main job's report: tables and side-by-side figures of every method's runs.

Everything here reads the stages' results (``stages.run``); nothing is recomputed but the
figures. ``write_report`` writes ``report.md``, ``report.json`` and the PNGs atomically.
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from ..analysis.reconstruction import denormalise
from ..analysis.reports import figure, save_figure, write_json, write_text
from .claims import convergence, curve_verdicts, judge, last_blocks, spread
from .methods import colour, label

#: the summary table's columns: (title, one run's result -> number, format)
COLUMNS = [
    ('k-NN top-1 (%)', lambda r: r['evaluate']['knn'], '.2f'),
    ('k-NN, 10 per class (%)', lambda r: r['evaluate']['knn_few_shot'], '.2f'),
    ('linear probe (%)', lambda r: r['evaluate']['linear'], '.2f'),
    ('fine-tuned top-1 (%)', lambda r: r['finetune']['top1'] if 'finetune' in r else None,
     '.2f'),
    ('UperNet mIoU (%)', lambda r: r['segment']['miou'] if 'segment' in r else None, '.2f'),
    ('dense probe mIoU (%)', lambda r: r['evaluate']['dense_miou'], '.2f'),
    ('final-decoder loss', lambda r: float(np.mean(r['pretrain']['mim_losses'][-20:])), '.4f'),
    ('step (s)', lambda r: r['pretrain']['step_time'], '.3f'),
]


def _cell(stats: Optional[dict], fmt: str) -> str:
    if stats is None:
        return '-'
    if stats['n'] < 2:
        return format(stats['mean'], fmt)
    return f'{stats["mean"]:{fmt}} ± {stats["std"]:{fmt}}'


def summary(runs: Dict[str, List[dict]]) -> Dict[str, dict]:
    """method -> column title -> spread over seeds (None where not measured)."""
    table = {}
    for method, results in runs.items():
        row = {}
        for title, value, _ in COLUMNS:
            values = [value(r) for r in results]
            row[title] = None if None in values else spread(values)
        table[method] = row
    return table


def summary_markdown(table: Dict[str, dict], seeds: int) -> str:
    lines = ['| method | ' + ' | '.join(t for t, _, _ in COLUMNS) + ' |',
             '|---' * (len(COLUMNS) + 1) + '|']
    for method, row in table.items():
        cells = [_cell(row[t], fmt) for t, _, fmt in COLUMNS]
        lines.append(f'| {label(method)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + f'\n\nmean ± standard deviation over {seeds} seeds'


#: what the recipe asks of a method: its k-NN this far above the untrained ViT's, and of
#: the baseline either this k-NN or a flattened curve (its online k-NN moving less than
#: FLAT points over the last quarter of training)
ABOVE_UNTRAINED, TARGET_KNN, FLAT = 10.0, 80.0, 2.0


def learning(runs: Dict[str, List[dict]], untrained_knn: Optional[float]) -> List[dict]:
    """Per method: its mean k-NN, how far above the untrained ViT's, and how much its
    online k-NN (mean over seeds) moved over the last quarter of training."""
    rows = []
    for method, results in runs.items():
        curves = np.array([[p['knn'] for p in r['pretrain']['curve']] for r in results])
        its = [p['iter'] for p in results[0]['pretrain']['curve']]
        quarter = next(i for i, it in enumerate(its) if it >= 0.75 * its[-1])
        knn = float(np.mean([r['evaluate']['knn'] for r in results]))
        rows.append(dict(method=method, knn=knn,
                         above_untrained=None if untrained_knn is None else
                         knn - untrained_knn,
                         last_quarter=float(curves[:, -1].mean() - curves[:, quarter].mean()),
                         quarter_from=its[quarter]))
    return rows


def learning_markdown(rows: List[dict]) -> str:
    lines = ['| method | k-NN top-1 (%) | above the untrained ViT | online k-NN over the last '
             'quarter | |', '|---|---|---|---|---|']
    for row in rows:
        above = row['above_untrained']
        notes = []
        if above is not None and above < ABOVE_UNTRAINED:
            notes.append(f'less than {ABOVE_UNTRAINED:.0f} points above the untrained ViT')
        if row['knn'] < TARGET_KNN:
            notes.append('still rising' if row['last_quarter'] >= FLAT else 'flattened')
        lines.append(f'| {label(row["method"])} | {row["knn"]:.2f} | '
                     + ('-' if above is None else f'{above:+.2f}')
                     + f' | {row["last_quarter"]:+.2f} (from iteration '
                     f'{row["quarter_from"]}) | {"; ".join(notes)} |')
    return '\n'.join(lines)


def _verdict_cell(row: dict) -> str:
    word = f'**{row["verdict"]}**'
    needed = row.get('seeds_needed')
    if needed:
        word += (f' (a difference this size needs {needed} seeds)' if needed <= 100 else
                 ' (a difference this size needs more than 100 seeds)')
    return word


def claims_markdown(rows: List[dict], along: Optional[List[dict]] = None) -> str:
    """The claims table; ``along``: the curve's verdicts (:func:`claims.curve_verdicts`),
    shown in a last column for the claims the online k-NN measures."""
    stability = {(r['method'], r['claim']): r['stability'] for r in along or ()}
    lines = ['| method | claim | measured | method | baseline | untrained | difference | '
             'verdict | along the curve |', '|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        head = f'| {label(row["method"])} | {row["claim"]} | {row["metric"]} '
        curve = stability.get((row['method'], row['claim']), '-')
        if 'value' not in row:
            lines.append(head + f'| - | - | - | - | {row["verdict"]} | {curve} |')
            continue
        lines.append(head + f'| {_cell(row["value"], ".2f")} | {label(row["baseline"])} '
                     f'{_cell(row["base"], ".2f")} | {_cell(row.get("untrained"), ".2f")} | '
                     f'{row["difference"]:+.2f} ± {row["se"]:.2f} | {_verdict_cell(row)} | '
                     f'{curve} |')
    return '\n'.join(lines)


def convergence_markdown(rows: List[dict]) -> str:
    lines = ['| method | claim | method | baseline | difference | verdict |',
             '|---|---|---|---|---|---|']
    for row in rows:
        if 'value' not in row:
            continue
        lines.append(f'| {label(row["method"])} | {row["claim"]} ({row["target"]:.2f} %) | '
                     f'{_cell(row["value"], ".0f")} | {label(row["baseline"])} '
                     f'{_cell(row["base"], ".0f")} | {row["difference"]:+.0f} ± '
                     f'{row["se"]:.0f} | {_verdict_cell(row)} |')
    return '\n'.join(lines)


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def _per_block(ax, runs, key: str, references: Optional[dict], ylabel: str) -> None:
    """One line per method that measured ``key`` (a Swin has no attention distances)."""
    for method, results in runs.items():
        if results[0]['evaluate'][key] is None:
            continue
        values = np.array([r['evaluate'][key] for r in results])  # (seeds, L)
        blocks = np.arange(1, values.shape[1] + 1)
        ax.errorbar(blocks, values.mean(0), yerr=values.std(0, ddof=1) if len(values) > 1
                    else None, marker='o', ms=4, capsize=3, color=colour(method),
                    label=label(method))
    if references is not None:
        values = np.array(references['untrained'][key])
        ax.plot(np.arange(1, values.shape[1] + 1), values.mean(0), ls='--', color='grey',
                label='untrained ViT')
    ax.set(xlabel='block', ylabel=ylabel)
    ax.legend(fontsize=8)


def plot_knn_blocks(path, runs, references) -> str:
    fig, ax = figure(6, 4)
    _per_block(ax, runs, 'knn_blocks', references,
               'k-NN top-1 of the block output (%)')
    if references is not None:
        ax.axhline(references['pixels_knn'], color='grey', ls=':', label='raw pixels')
        ax.legend(fontsize=8)
    ax.set_title('k-NN of every block (mean of patch tokens); bars: std over seeds',
                 fontsize=9)
    save_figure(path, fig)
    return path


def plot_aad_blocks(path, runs, references) -> str:
    fig, ax = figure(6, 4)
    _per_block(ax, runs, 'aad_blocks', references, 'average attention distance (px)')
    blocks = last_blocks(len(references['untrained']['aad_blocks'][0]) if references else
                         max(len(r[0]['evaluate']['aad_blocks'] or ()) for r in runs.values()))
    ax.axvspan(blocks[0] - 0.5, blocks[-1] + 0.5, color='0.9', zorder=0)
    ax.set_title('Attention distance of every block (shaded: the claims\' last blocks)',
                 fontsize=9)
    save_figure(path, fig)
    return path


def _two_panels():
    """A figure of two plots side by side, and their axes."""
    fig, _ = figure(11, 4)
    fig.clf()
    return fig, [fig.add_subplot(1, 2, i) for i in (1, 2)]


def plot_curves(path, runs) -> str:
    """The online k-NN against iterations (mean over seeds, the band their range; the
    untrained encoder at iteration 0) beside the final decoder's loss."""
    fig, axes = _two_panels()
    for method, results in runs.items():
        curves = [r['pretrain']['curve'] for r in results]
        its = np.array([p['iter'] for p in curves[0]])
        values = np.array([[p['knn'] for p in c] for c in curves])  # (seeds, points)
        axes[0].plot(its, values.mean(0), marker='o', ms=3, color=colour(method),
                     label=label(method))
        axes[0].fill_between(its, values.min(0), values.max(0), color=colour(method),
                             alpha=0.2, lw=0)
        _loss_line(axes[1], results, 'mim_losses', method)
    axes[0].set(xlabel='iteration', ylabel='online k-NN top-1 (%)')
    axes[0].set_title('k-NN of the frozen encoder during pretraining (band: seeds\' range)',
                      fontsize=9)
    axes[1].set(xlabel='iteration', ylabel='final-decoder loss (its own target)', yscale='log')
    axes[1].set_title('MIM loss of the final decoder (DDAE: distance-weighted)', fontsize=9)
    for ax in axes:
        ax.legend(fontsize=8)
    save_figure(path, fig)
    return path


def _loss_line(ax, results, key: str, method: str) -> None:
    """The loss ``key`` of a method's runs, mean over seeds, smoothed."""
    curves = np.array([r['pretrain'][key] for r in results])  # (seeds, iters)
    mean = curves.mean(0)
    window = max(1, len(mean) // 50)
    smooth = np.convolve(mean, np.ones(window) / window, mode='valid')
    ax.plot(np.arange(len(smooth)) + window, smooth, color=colour(method), label=label(method))


def plot_deepmim_analyses(path, runs, references) -> str:
    """DeepMIM's analyses per block: attention-head diversity and the linear CKA of each
    block to the last one."""
    fig, axes = _two_panels()
    _per_block(axes[0], runs, 'diversity_blocks', references, 'attention-head diversity (nats)')
    _per_block(axes[1], runs, 'cka_blocks', references, 'linear CKA to the last block')
    axes[0].set_title('Attention-head diversity of every block', fontsize=9)
    axes[1].set_title('CKA of every block to the last block', fontsize=9)
    save_figure(path, fig)
    return path


def plot_losses(path, runs) -> str:
    fig, axes = _two_panels()
    for method, results in runs.items():
        for ax, key in zip(axes, ('mim_losses', 'losses')):
            _loss_line(ax, results, key, method)
    axes[0].set(xlabel='iteration', ylabel='final-decoder loss (its own target)',
                title='MIM loss of the final decoder (DDAE: distance-weighted)')
    axes[1].set(xlabel='iteration', ylabel='total loss', title='Total loss (all terms)')
    for ax in axes:
        ax.set_yscale('log')
        ax.legend(fontsize=8)
        ax.title.set_fontsize(9)
    save_figure(path, fig)
    return path


def plot_reconstructions(path, runs) -> str:
    """Rows: validation images; columns: the image, and for each method whose final
    decoder predicts pixels its reconstruction (its first seed's run), visible patches
    pasted in, after the masked input (once for methods with the same mask: the same
    seed on the same grid)."""
    import torch
    loaded = {m: np.load(results[0]['evaluate']['reconstruction'])
              for m, results in runs.items() if results[0]['evaluate']['reconstruction']}
    first = next(iter(loaded.values()))
    columns = [('image', denormalise(torch.from_numpy(first['images'])))]
    previous = None  # a masked-input column before each group of methods with one mask
    for method, arrays in loaded.items():
        if previous is None or not np.array_equal(arrays['mask'], previous):
            images, patch = torch.from_numpy(arrays['images']), int(arrays['patch_size'])
            mask = torch.from_numpy(arrays['mask'])
            side = int(round(mask.shape[1]**0.5))
            shown = mask.view(-1, 1, side, side).repeat_interleave(patch, 2) \
                .repeat_interleave(patch, 3)
            columns.append(('masked input', denormalise(images * (1 - shown))))
            previous = arrays['mask']
        columns.append((label(method), denormalise(torch.from_numpy(arrays['final']))))
    images = first['images']
    fig, _ = figure(1.5 * len(columns), 1.35 * len(images))
    fig.clf()
    for i in range(len(images)):
        for j, (title, pixels) in enumerate(columns):
            ax = fig.add_subplot(len(images), len(columns), i * len(columns) + j + 1)
            ax.imshow(pixels[i].permute(1, 2, 0).numpy(), interpolation='nearest')
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=8)
    save_figure(path, fig)
    return path


#: the untrained ViT's number (the references' key) drawn as a floor in a score panel
FLOOR_OF = {'k-NN top-1 (%)': 'knn', 'fine-tuned top-1 (%)': 'finetune',
            'UperNet mIoU (%)': 'miou', 'dense probe mIoU (%)': 'dense_miou'}


def plot_scores(path, runs, untrained: Optional[dict] = None) -> str:
    """k-NN, linear probe, fine-tuning and both mIoUs per method: each seed a dot, the
    mean a bar (the methods that measured it: a Swin has no UperNet run), and the
    untrained ViT's mean as a dashed floor where the references have it."""
    panels = [(t, v) for t, v, _ in COLUMNS if '%' in t and '10 per class' not in t
              and any(v(r) is not None for rs in runs.values() for r in rs)]
    fig, _ = figure(3.2 * len(panels), 3.4)
    fig.clf()
    names = list(runs)
    for k, (title, value) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        shown = []
        for i, method in enumerate(names):
            values = [value(r) for r in runs[method]]
            if None in values:
                continue
            ax.bar(i, np.mean(values), color=colour(method), alpha=0.35)
            ax.scatter([i] * len(values), values, color=colour(method), s=14)
            shown += values
        floor = (untrained or {}).get(FLOOR_OF.get(title))
        if shown and floor and None not in floor:
            ax.axhline(np.mean(floor), color='k', ls='--', lw=1)
            shown.append(float(np.mean(floor)))
            title += '\n(dashed: the untrained ViT)'
        if not shown:
            continue
        ax.set_xticks(range(len(names)), [label(m) for m in names], rotation=40,
                      ha='right', fontsize=8)
        pad = max(1.0, (max(shown) - min(shown)) * 0.3)
        ax.set_ylim(min(shown) - pad, max(shown) + pad)
        ax.set_title(title, fontsize=9)
    save_figure(path, fig)
    return path


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------


def background_only(runs: Dict[str, List[dict]], classes: int) -> int:
    """How many UperNet runs predict one class (the background) everywhere: then that
    class's IoU is the pixel accuracy and every other class's is 0, so
    mIoU = aAcc / classes."""
    return sum(1 for results in runs.values() for r in results
               if 'segment' in r and abs(r['segment']['miou'] - r['segment']['aacc'] / classes)
               < 0.01)


def write_report(out_dir: str, runs: Dict[str, List[dict]], references: Optional[dict],
                 header: dict, seg_classes: Optional[int] = None) -> dict:
    """Write the figures, ``report.json`` and ``report.md`` into ``out_dir``; returns the
    report's data (what report.json holds)."""
    figures = dict(
        curves=plot_curves(osp.join(out_dir, 'curves.png'), runs),
        scores=plot_scores(osp.join(out_dir, 'scores.png'), runs,
                           None if references is None else references['untrained']),
        knn_blocks=plot_knn_blocks(osp.join(out_dir, 'knn_blocks.png'), runs, references),
        aad_blocks=plot_aad_blocks(osp.join(out_dir, 'aad_blocks.png'), runs, references),
        deepmim_analyses=plot_deepmim_analyses(osp.join(out_dir, 'deepmim_analyses.png'),
                                               runs, references),
        losses=plot_losses(osp.join(out_dir, 'losses.png'), runs))
    if any(results[0]['evaluate']['reconstruction'] for results in runs.values()):
        figures['reconstructions'] = plot_reconstructions(
            osp.join(out_dir, 'reconstructions.png'), runs)
    table = summary(runs)
    untrained = None if references is None else references['untrained']
    rows = judge(runs, list(runs), untrained)
    along = curve_verdicts(runs, list(runs))
    converge = convergence(runs, list(runs))
    learned = learning(runs, None if untrained is None else float(np.mean(untrained['knn'])))
    seeds = min(len(r) for r in runs.values())
    data = dict(header, summary=table, learning=learned, claims=rows, curve_claims=along,
                convergence=converge, references=references,
                figures={k: osp.basename(v) for k, v in figures.items()},
                runs={m: [dict(seed=r['spec']['seed'], evaluate=r['evaluate'],
                               finetune=r.get('finetune'), segment=r.get('segment'),
                               pretrain={k: v for k, v in r['pretrain'].items()
                                         if k not in ('losses', 'mim_losses')})
                          for r in results] for m, results in runs.items()})
    write_json(osp.join(out_dir, 'report.json'), data)
    refs = ''
    if references is not None:
        refs = (f'\n\nReferences on the same data: k-NN of raw pixels '
                f'{references["pixels_knn"]:.2f} %, of the untrained ViT '
                f'{np.mean(untrained["knn"]):.2f} % (the MAE config\'s ViT, as it '
                f'initialises it), the untrained ViT fine-tuned '
                f'{np.mean(untrained["finetune"]):.2f} %'
                + (f', in the UperNet {np.mean(untrained["miou"]):.2f} % mIoU'
                   if 'miou' in untrained else '')
                + (f', its dense probe {np.mean(untrained["dense_miou"]):.2f} % mIoU'
                   if None not in untrained['dense_miou'] else '')
                + f' (mean over {seeds} seeds; no Swin reference).')
    degenerate = background_only(runs, seg_classes) if seg_classes else 0
    if degenerate:
        total = sum(1 for results in runs.values() for r in results if 'segment' in r)
        refs += (f'\n\n**{degenerate} of {total} UperNet runs predict background '
                 f'everywhere** (mIoU = aAcc / classes): their mIoU cannot tell the methods '
                 f'apart (docs/main_job.md).')
    text = '\n\n'.join([
        '# Main job report',
        '\n'.join(f'- {k.replace("_", " ")}: {v}' for k, v in header.items()),
        '## Frozen features, fine-tuning and segmentation',
        summary_markdown(table, seeds) + refs,
        '## How far each method learned',
        learning_markdown(learned) + f'\n\nThe recipe asks every method for a k-NN at least '
        f'{ABOVE_UNTRAINED:.0f} points above the untrained ViT\'s, and of the baseline a '
        f'k-NN of {TARGET_KNN:.0f} % or a flattened curve (its online k-NN, mean over seeds, '
        f'moving less than {FLAT:.0f} points over the last quarter of training); a method '
        f'that is not there is named in the last column (docs/main_job.md).',
        '## The papers\' claims',
        claims_markdown(rows, along) + VERDICTS,
        '## Convergence',
        convergence_markdown(converge) + '\n\nIterations each run needs to reach the '
        'baseline\'s final online k-NN (mean over its seeds; linear between the curve\'s '
        'points; a run that never reaches it counts as its last iteration); fewer holds.',
        '## Figures',
        '![k-NN curves and losses](curves.png)\n\n![scores](scores.png)\n\n'
        '![k-NN per block](knn_blocks.png)\n\n'
        '![attention distance per block](aad_blocks.png)\n\n'
        '![head diversity and CKA per block](deepmim_analyses.png)\n\n'
        + ('![reconstructions](reconstructions.png)\n\n' if 'reconstructions' in figures
           else '') + '![losses](losses.png)',
    ])
    write_text(osp.join(out_dir, 'report.md'), text + '\n')
    return data


VERDICTS = (
    '\n\nVerdict: **holds** if the difference in the claimed direction exceeds twice its '
    'standard error over seeds, **does not hold** if it exceeds twice in the other '
    'direction, else **within noise** (with the seeds a difference of that size would '
    'need). **not learned**: the method\'s number is within twice its standard error of '
    'the untrained ViT\'s, so the comparison says nothing about the method; **baseline not '
    'learned**: the same of the baseline. *Along the curve*: the same verdict at every '
    'point of the online k-NN (its subsets, the untrained point each run\'s own start), '
    'read over the last half of training.')
