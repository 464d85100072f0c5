"""The papers' qualitative claims, each measured against the method's baseline (MAE, or
the mmpretrain algorithm a technique is added to) and judged against the spread over
seeds.

A claim compares one number of a method with the same number of its baseline, e.g. the
mean k-NN of DeepMIM's supervised intermediate blocks (and of the same blocks of MAE).
Over the seeds of each, with means m and sample standard deviations s from n runs, the
difference in the claimed direction is

    d = sign * (m_method - m_base),    se = sqrt(s_method^2 / n_method + s_base^2 / n_base)

and the verdict is 'holds' if d > 2 se, 'does not hold' if d < -2 se, else 'within noise'
('no difference' if every run of both gave the same number; with one seed there is no
spread: 'one seed'). ``sign`` is +1 for "above the baseline's" and -1 for "below" (DDAE's
locality: a smaller attention distance).
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

LABELS = {'mae': 'MAE', 'deepmim': 'DeepMIM', 'ddae': 'DDAE', 'lut': 'LUT',
          'ddae-lut': 'DDAE + LUT', 'maskfeat': 'MaskFeat',
          'deepmim-maskfeat': 'MaskFeat + DeepMIM', 'ddae-maskfeat': 'MaskFeat + DDAE',
          'simmim': 'SimMIM', 'deepmim-simmim': 'SimMIM + DeepMIM',
          'ddae-simmim': 'SimMIM + DDAE'}
#: method -> the method its claims compare with (a baseline makes no claims)
BASELINES = {'deepmim': 'mae', 'ddae': 'mae', 'lut': 'mae', 'ddae-lut': 'mae',
             'deepmim-maskfeat': 'maskfeat', 'ddae-maskfeat': 'maskfeat',
             'deepmim-simmim': 'simmim', 'ddae-simmim': 'simmim'}
#: what each method's claims are (the paper whose claims they are)
TECHNIQUES = {'deepmim-maskfeat': 'deepmim', 'ddae-maskfeat': 'ddae',
              'deepmim-simmim': 'deepmim', 'ddae-simmim': 'ddae'}


def label(method: str) -> str:
    return LABELS.get(method, method)


def spread(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (0 for one value) and count of ``values``."""
    values = [float(v) for v in values]
    return dict(mean=float(np.mean(values)), std=float(np.std(values, ddof=1))
                if len(values) > 1 else 0.0, n=len(values), values=values)


def last_blocks(num_layers: int) -> List[int]:
    """The last third of the blocks (from 1): a 6-block ViT's 5 and 6, ViT-B's 9 to 12."""
    count = max(1, math.ceil(num_layers / 3))
    return list(range(num_layers - count + 1, num_layers + 1))


def verdict(method: dict, base: dict, sign: int) -> dict:
    """The difference (claimed direction positive), its standard error and the verdict."""
    difference = sign * (method['mean'] - base['mean'])
    se = math.sqrt(method['std']**2 / method['n'] + base['std']**2 / base['n'])
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
    return dict(difference=difference, se=se, verdict=word)


@dataclass
class Claim:
    method: str
    text: str
    metric: str  # what is compared, for the table
    key: str  # the evaluation (or 'miou') that is compared
    blocks: Optional[Callable[[dict], List[int]]] = None  # a method's run -> blocks averaged
    sign: int = 1

    def value(self, run: dict, blocks: Optional[List[int]]) -> Optional[float]:
        """One run's number: the mean of ``blocks`` of a per-block evaluation, or a
        scalar one (None where the run did not measure it)."""
        if self.key == 'miou':
            return run['segment']['miou'] if 'segment' in run else None
        value = run['evaluate'][self.key]
        if blocks is None or value is None:
            return value
        return float(np.mean([value[b - 1] for b in blocks])) if blocks else None


def _deepmim_taps(run: dict) -> List[int]:
    return run['evaluate']['taps'].get('deepmim', [])


def _last(run: dict) -> List[int]:
    return last_blocks(len(run['evaluate']['knn_blocks']))


def claims(methods: Sequence[str]) -> List[Claim]:
    """The claims of the methods in ``methods`` that have a baseline, in its words ("k-NN
    above MAE's"); each technique claims the same on every framework it is added to."""
    aad = 'attention distance of the last third of the blocks (mean), px', 'aad_blocks'
    out = []
    for method in methods:
        if method not in BASELINES:
            continue
        base = label(BASELINES[method])
        knn = f"k-NN above {base}'s", 'k-NN top-1, %', 'knn'
        rows = {
            'deepmim': [
                Claim(method, f"intermediate blocks' k-NN above {base}'s",
                      'k-NN top-1 of the supervised blocks (mean), %', 'knn_blocks',
                      _deepmim_taps),
                Claim(method, f"final k-NN above {base}'s", *knn[1:]),
            ],
            'lut': [
                Claim(method, f"attention distance of the last blocks above {base}'s", *aad,
                      _last),
                Claim(method, *knn),
            ],
            'ddae': [
                Claim(method, f"deep blocks more local than {base}'s", *aad, _last, sign=-1),
                Claim(method, *knn),
            ],
            'ddae-lut': [Claim(method, *knn)],
        }[TECHNIQUES.get(method, method)]
        out += rows + [Claim(method, f"mIoU above {base}'s", 'UperNet mIoU, %', 'miou')]
    return out


def judge(runs: Dict[str, List[dict]], methods: Sequence[str]) -> List[dict]:
    """One row per claim: the method's and its baseline's values over seeds and the
    verdict ('not measured' where either has no such number, e.g. a Swin's attention
    distance). ``runs``: method -> the results of its runs (stages' results, see
    stages.run); a method whose baseline did not run makes no claims."""
    rows = []
    for claim in claims([m for m in methods if BASELINES.get(m) in runs]):
        base = BASELINES[claim.method]
        # the blocks a claim averages are the method's (e.g. DeepMIM's taps), for the
        # baseline too
        blocks = claim.blocks(runs[claim.method][0]) if claim.blocks else None
        method = [claim.value(r, blocks) for r in runs[claim.method]]
        theirs = [claim.value(r, blocks) for r in runs[base]]
        row = dict(method=claim.method, baseline=base, claim=claim.text, metric=claim.metric)
        if None in method or None in theirs:
            rows.append(dict(row, verdict='not measured'))
            continue
        ours, theirs = spread(method), spread(theirs)
        rows.append(dict(row, value=ours, base=theirs, **verdict(ours, theirs, claim.sign)))
    return rows
