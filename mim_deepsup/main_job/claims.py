"""The papers' claims, one declared table, each judged against the method's baseline (MAE,
or the framework a technique is added to) and against the spread over seeds.

A claim compares one number of a method with the same number of its baseline, e.g. the
mean k-NN of DeepMIM's supervised intermediate blocks (and of the same blocks of MAE).
Over the seeds of each, with means m and sample standard deviations s from n runs, the
difference in the claimed direction is

    d = sign * (m_method - m_base),    se = sqrt(s_method^2 / n_method + s_base^2 / n_base)

and the verdict is 'holds' if d > 2 se, 'does not hold' if d < -2 se, else 'within noise'
('no difference' if every run of both gave the same number; with one seed there is no
spread: 'one seed'). ``sign`` is +1 for "above the baseline's" and -1 for "below" (DDAE's
locality: a smaller attention distance).

Before that, each side is compared with the untrained encoder by the same rule (where the
untrained number exists): a method whose number is within 2 se of the untrained one has
not learned what the claim measures, and the verdict is 'not learned' ('baseline not
learned' for the baseline). For 'within noise', ``seeds_needed`` is how many seeds per
method a difference of the observed size would need to clear 2 se at the observed spreads:
the smallest n with |d| > 2 sqrt((s_method^2 + s_base^2) / n).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .methods import METHODS, baseline, label

#: the per-run numbers the untrained references have (evaluate's keys)
FROZEN = ('knn', 'knn_blocks', 'aad_blocks', 'diversity_blocks', 'cka_blocks',
          'dense_miou')


@dataclass(frozen=True)
class Claim:
    """One claim of a paper. ``technique``: whose claim (None: every technique's);
    ``text`` and ``metric`` name it in the report (``{base}``: the baseline's label);
    ``key``: the number compared (an evaluate key, ``'finetune'`` or ``'miou'``);
    ``blocks``: for a per-block number, which blocks are averaged (``'supervised'``: the
    method's supervised blocks; ``'last third'``); ``sign``: +1 above, -1 below."""
    technique: Optional[str]
    text: str
    metric: str
    key: str
    blocks: Optional[str] = None
    sign: int = 1


#: claim keys whose number is taken only with some stages or data (fine-tuning, the
#: UperNet, the dense probe of segmentation data): no row when no run has it
OPTIONAL = ('finetune', 'miou', 'dense_miou')
KNN = 'k-NN top-1, %'
AAD = 'attention distance of the last third of the blocks (mean), px'
CLAIMS = (
    Claim('deepmim', "intermediate blocks' k-NN above {base}'s",
          'k-NN top-1 of the supervised blocks (mean), %', 'knn_blocks', 'supervised'),
    Claim('deepmim', "final k-NN above {base}'s", KNN, 'knn'),
    Claim('deepmim', "supervised blocks closer to the last block (CKA) than {base}'s",
          'linear CKA of the supervised blocks to the last block (mean)', 'cka_blocks',
          'supervised'),
    Claim('deepmim', "more diverse attention heads in the supervised blocks than {base}'s",
          'attention-head diversity of the supervised blocks (mean), nats',
          'diversity_blocks', 'supervised'),
    Claim('lut', "attention distance of the last blocks above {base}'s", AAD, 'aad_blocks',
          'last third'),
    Claim('lut', "k-NN above {base}'s", KNN, 'knn'),
    Claim('ddae', "deep blocks more local than {base}'s", AAD, 'aad_blocks', 'last third',
          sign=-1),
    Claim('ddae', "k-NN above {base}'s", KNN, 'knn'),
    Claim(None, "fine-tuned top-1 above {base}'s", 'fine-tuned top-1, %', 'finetune'),
    Claim(None, "mIoU above {base}'s", 'UperNet mIoU, %', 'miou'),
    Claim(None, "dense-probe mIoU above {base}'s", 'dense linear probe mIoU, %',
          'dense_miou'),
)


def claims_of(method: str) -> List[Claim]:
    """The claims of ``method``'s techniques (each text once), in the table's order."""
    techniques = METHODS[method].facts['techniques']
    out, texts = [], set()
    for claim in CLAIMS:
        if (claim.technique is None or claim.technique in techniques) \
                and claim.text not in texts:
            out.append(claim)
            texts.add(claim.text)
    return out


def spread(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (0 for one value) and count of ``values``."""
    values = [float(v) for v in values]
    return dict(mean=float(np.mean(values)), std=float(np.std(values, ddof=1))
                if len(values) > 1 else 0.0, n=len(values), values=values)


def last_blocks(num_layers: int) -> List[int]:
    """The last third of the blocks (from 1): a 6-block ViT's 5 and 6, ViT-B's 9 to 12."""
    count = max(1, math.ceil(num_layers / 3))
    return list(range(num_layers - count + 1, num_layers + 1))


def seeds_needed(difference: float, method: dict, base: dict) -> Optional[int]:
    """Seeds per method for ``difference`` to exceed 2 se at these spreads (None: no
    difference)."""
    if difference == 0:
        return None
    return math.floor(4 * (method['std']**2 + base['std']**2) / difference**2) + 1


def verdict(method: dict, base: dict, sign: int) -> dict:
    """The difference (claimed direction positive), its standard error and the verdict."""
    difference = sign * (method['mean'] - base['mean'])
    se = math.sqrt(method['std']**2 / method['n'] + base['std']**2 / base['n'])
    out = dict(difference=difference, se=se)
    if method['n'] < 2 or base['n'] < 2:
        word = 'one seed'
    elif difference == 0 and se == 0:
        word = 'no difference'  # every run of both gave the same number
    elif difference > 2 * se:
        word = 'holds'
    elif difference < -2 * se:
        word = 'does not hold'
    else:
        word = 'within noise'
        out['seeds_needed'] = seeds_needed(difference, method, base)
    return dict(out, verdict=word)


def learned(values: dict, untrained: Optional[dict]) -> bool:
    """Whether ``values`` differ from the untrained encoder's by more than 2 se (True
    when there is no untrained number to compare with)."""
    if untrained is None:
        return True
    return verdict(values, untrained, 1)['verdict'] in ('holds', 'does not hold')


def blocks_of(claim: Claim, run: dict) -> Optional[List[int]]:
    """The blocks ``claim`` averages, read from the method's (first) run."""
    if claim.blocks == 'supervised':
        return run['evaluate']['supervised_blocks']
    if claim.blocks == 'last third':
        return last_blocks(len(run['evaluate']['knn_blocks']))
    return None


def number(key: str, measured: Optional[object], blocks: Optional[List[int]]):
    """One run's number: the mean of ``blocks`` of a per-block measure, or the scalar
    (None where the run did not measure it)."""
    if measured is None or blocks is None:
        return measured
    return float(np.mean([measured[b - 1] for b in blocks])) if blocks else None


def run_value(run: dict, key: str):
    """The measure ``key`` of one run's stages (None where the run has no such stage)."""
    if key == 'miou':
        return run['segment']['miou'] if 'segment' in run else None
    if key == 'finetune':
        return run['finetune']['top1'] if 'finetune' in run else None
    return run['evaluate'][key]


def compare(method: List, base: List, sign: int, untrained: Optional[List] = None) -> dict:
    """The row's numbers and verdict from per-seed numbers (None entries: not measured),
    with the untrained encoder's per-seed numbers (or None) for the 'not learned' check."""
    if None in method or None in base or not method or not base:
        return dict(verdict='not measured')
    ours, theirs = spread(method), spread(base)
    floor = spread(untrained) if untrained and None not in untrained else None
    row = dict(value=ours, base=theirs, **verdict(ours, theirs, sign))
    if floor is not None:
        row['untrained'] = floor
        if not learned(ours, floor):
            row.update(verdict='not learned')
            row.pop('seeds_needed', None)
        elif not learned(theirs, floor):
            row.update(verdict='baseline not learned')
            row.pop('seeds_needed', None)
    return row


def judge(runs: Dict[str, List[dict]], methods: Sequence[str],
          untrained: Optional[dict] = None) -> List[dict]:
    """One row per claim of each method in ``methods`` whose baseline ran: the method's
    and its baseline's values over seeds and the verdict ('not measured' where either has
    no such number, e.g. a Swin's attention distance). ``runs``: method -> the results of
    its runs (stages.run); ``untrained``: measure -> the untrained encoder's per-seed
    numbers (the job's references), used for the ViT methods."""
    rows = []
    for method in methods:
        base = baseline(method)
        if base is None or base not in runs:
            continue
        floor = untrained if METHODS[method].facts['vit'] else None
        for claim in claims_of(method):
            if claim.key in OPTIONAL and all(run_value(r, claim.key) is None
                                             for r in runs[method] + runs[base]):
                continue  # not taken (e.g. no UperNet): no row
            # the blocks a claim averages are the method's (e.g. DeepMIM's), for the
            # baseline too
            blocks = blocks_of(claim, runs[method][0])
            ours, theirs = ([number(claim.key, run_value(r, claim.key), blocks)
                             for r in runs[m]] for m in (method, base))
            reference = None
            if floor is not None and claim.key in floor:
                reference = [number(claim.key, v, blocks) for v in floor[claim.key]]
            rows.append(dict(method=method, baseline=base, claim=claim.text.format(
                base=label(base)), metric=claim.metric,
                **compare(ours, theirs, claim.sign, reference)))
    return rows


# --------------------------------------------------------------------------------------
# along the curve
# --------------------------------------------------------------------------------------


def curve_verdicts(runs: Dict[str, List[dict]], methods: Sequence[str]) -> List[dict]:
    """The claims measured by the online k-NN (final and per block), judged at every
    point of the curve. Each row has ``points``: [(iteration, verdict)], and ``stability``:
    how the verdict reads over the last half of training. The untrained encoder of each
    run is its own curve's first point (iteration 0)."""
    rows = []
    for method in methods:
        base = baseline(method)
        if base is None or base not in runs:
            continue
        for claim in claims_of(method):
            if claim.key not in ('knn', 'knn_blocks'):
                continue
            blocks = blocks_of(claim, runs[method][0])
            curves = {m: [r['pretrain']['curve'] for r in runs[m]] for m in (method, base)}
            iterations = [p['iter'] for p in curves[method][0]]
            if [p['iter'] for p in curves[base][0]] != iterations:
                continue  # different schedules: no common points
            floor = [number(claim.key, c[0][claim.key], blocks) for c in curves[method]]
            points = []
            for i, it in enumerate(iterations):
                ours = [number(claim.key, c[i][claim.key], blocks) for c in curves[method]]
                theirs = [number(claim.key, c[i][claim.key], blocks) for c in curves[base]]
                row = compare(ours, theirs, claim.sign, floor if it else None)
                points.append((it, row['verdict'], row.get('difference')))
            rows.append(dict(method=method, baseline=base,
                             claim=claim.text.format(base=label(base)),
                             points=points, stability=stability(points)))
    return rows


def stability(points: List[tuple]) -> str:
    """How the verdicts of the last half of training read: 'holds from iteration 300 on'
    when one verdict holds from some point to the end and over the whole last half,
    else each run of equal verdicts in the last half ('holds at 375, within noise at
    500-750')."""
    end = points[-1][0]
    last_half = [(it, word) for it, word, _ in points if it >= end / 2]
    words = {word for _, word in last_half}
    if len(words) == 1:
        word = words.pop()
        start = len(points) - 1
        while start > 0 and points[start - 1][1] == word:
            start -= 1
        return f'{word} from iteration {points[start][0]} on'
    runs: List[list] = []
    for it, word in last_half:
        if runs and runs[-1][0] == word:
            runs[-1][2] = it
        else:
            runs.append([word, it, it])
    return ', '.join(f'{w} at {a}' if a == b else f'{w} at {a}-{b}' for w, a, b in runs)


def reach(curves: List[List[dict]], target: float) -> List[float]:
    """Per seed, the iteration at which the k-NN curve first reaches ``target`` (linear
    between points); a seed that never does counts as its last iteration."""
    out = []
    for curve in curves:
        its = [p['iter'] for p in curve]
        values = [p['knn'] for p in curve]
        hit = float(its[-1])
        for i, value in enumerate(values):
            if value >= target:
                before = values[i - 1] if i else value
                hit = float(its[i]) if i == 0 else its[i - 1] + (its[i] - its[i - 1]) * (
                    target - before) / (value - before)
                break
        out.append(hit)
    return out


def convergence(runs: Dict[str, List[dict]], methods: Sequence[str]) -> List[dict]:
    """DeepMIM's faster convergence, and the same number for every method with a
    baseline: the iterations each needs to reach the baseline's final online k-NN (mean
    over its seeds), against the baseline's own; fewer is better."""
    rows = []
    for method in methods:
        base = baseline(method)
        if base is None or base not in runs:
            continue
        curves = {m: [r['pretrain']['curve'] for r in runs[m]] for m in (method, base)}
        target = float(np.mean([c[-1]['knn'] for c in curves[base]]))
        ours, theirs = reach(curves[method], target), reach(curves[base], target)
        row = compare(ours, theirs, -1)
        # a target the baseline reached without learning (its final k-NN within noise of
        # its start) says nothing, nor does a method that did not learn
        for who, word in ((method, 'not learned'), (base, 'baseline not learned')):
            start, end = ([c[i]['knn'] for c in curves[who]] for i in (0, -1))
            if 'value' in row and not learned(spread(end), spread(start)):
                row.update(verdict=word)
                row.pop('seeds_needed', None)
                break
        rows.append(dict(method=method, baseline=base, target=target,
                         claim=f"reaches {label(base)}'s final k-NN in fewer iterations",
                         metric='iterations to reach it', **row))
    return rows
