"""The papers' qualitative claims, each measured against MAE and judged against the spread
over seeds.

A claim compares one number of a method with the same number of MAE, e.g. the mean
k-NN of DeepMIM's supervised intermediate blocks (and of the same blocks of MAE). Over
the seeds of each, with means m and sample standard deviations s from n runs, the
difference in the claimed direction is

    d = sign * (m_method - m_mae),    se = sqrt(s_method^2 / n_method + s_mae^2 / n_mae)

and the verdict is 'holds' if d > 2 se, 'does not hold' if d < -2 se, else 'within noise'
('no difference' if every run of both gave the same number; with one seed there is no
spread: 'one seed'). ``sign`` is +1 for "above MAE's" and -1 for
"below" (DDAE's locality: a smaller attention distance).
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np


def spread(values: Sequence[float]) -> dict:
    """mean, sample standard deviation (0 for one value) and count of ``values``."""
    values = [float(v) for v in values]
    return dict(mean=float(np.mean(values)), std=float(np.std(values, ddof=1))
                if len(values) > 1 else 0.0, n=len(values), values=values)


def last_blocks(num_layers: int) -> List[int]:
    """The last third of the blocks (from 1): a 6-block ViT's 5 and 6, ViT-B's 9 to 12."""
    count = max(1, math.ceil(num_layers / 3))
    return list(range(num_layers - count + 1, num_layers + 1))


def verdict(method: dict, mae: dict, sign: int) -> dict:
    """The difference (claimed direction positive), its standard error and the verdict."""
    difference = sign * (method['mean'] - mae['mean'])
    se = math.sqrt(method['std']**2 / method['n'] + mae['std']**2 / mae['n'])
    if method['n'] < 2 or mae['n'] < 2:
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
        if blocks is None:
            return run['evaluate'][self.key]
        per_block = run['evaluate'][self.key]
        return float(np.mean([per_block[b - 1] for b in blocks])) if blocks else None


def _deepmim_taps(run: dict) -> List[int]:
    return run['evaluate']['taps'].get('deepmim', [])


def _last(run: dict) -> List[int]:
    return last_blocks(len(run['evaluate']['knn_blocks']))


def claims(methods: Sequence[str]) -> List[Claim]:
    """The claims of the methods in ``methods`` (MAE itself makes none)."""
    knn = "k-NN above MAE's", 'k-NN top-1, %', 'knn'
    aad = 'attention distance of the last third of the blocks (mean), px', 'aad_blocks'
    rows = {
        'deepmim': [
            Claim('deepmim', "intermediate blocks' k-NN above MAE's",
                  'k-NN top-1 of the supervised blocks (mean), %', 'knn_blocks',
                  _deepmim_taps),
            Claim('deepmim', "final k-NN above MAE's", *knn[1:]),
        ],
        'lut': [
            Claim('lut', "attention distance of the last blocks above MAE's", *aad, _last),
            Claim('lut', *knn),
        ],
        'ddae': [
            Claim('ddae', "deep blocks more local than MAE's", *aad, _last, sign=-1),
            Claim('ddae', *knn),
        ],
        'ddae-lut': [Claim('ddae-lut', *knn)],
    }
    out = []
    for method in methods:
        if method in rows:
            out += rows[method] + [Claim(method, "mIoU above MAE's", 'UperNet mIoU, %',
                                         'miou')]
    return out


def judge(runs: Dict[str, List[dict]], methods: Sequence[str]) -> List[dict]:
    """One row per claim: the method's and MAE's values over seeds and the verdict.
    ``runs``: method -> the results of its runs (stages' results, see stages.run)."""
    if 'mae' not in runs:
        return []
    rows = []
    for claim in claims([m for m in methods if m != 'mae']):
        # the blocks a claim averages are the method's (e.g. DeepMIM's taps), for MAE too
        blocks = claim.blocks(runs[claim.method][0]) if claim.blocks else None
        method = [claim.value(r, blocks) for r in runs[claim.method]]
        mae = [claim.value(r, blocks) for r in runs['mae']]
        if None in method or None in mae:
            rows.append(dict(method=claim.method, claim=claim.text, metric=claim.metric,
                             verdict='not measured'))
            continue
        ours, theirs = spread(method), spread(mae)
        rows.append(dict(method=claim.method, claim=claim.text, metric=claim.metric,
                         value=ours, mae=theirs, **verdict(ours, theirs, claim.sign)))
    return rows
