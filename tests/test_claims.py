"""The main job's verdicts from hand-built numbers: the rule, 'not learned', the seeds a
difference would need, the verdicts along the curve, convergence, and the methods' facts
read from their configs."""
import os

import pytest

from mim_deepsup.main_job.claims import (
    claims_of,
    convergence,
    curve_verdicts,
    judge,
    last_blocks,
    reach,
    seeds_needed,
    spread,
    stability,
    verdict,
)
from mim_deepsup.main_job.methods import METHODS, baseline


def test_verdicts_from_hand_computed_spreads():
    method, mae = spread([80.0, 82.0, 84.0]), spread([70.0, 71.0, 72.0])
    assert method['mean'] == 82.0 and method['std'] == 2.0 and mae['std'] == 1.0
    # difference 11, se = sqrt(4/3 + 1/3) = 1.29: holds
    result = verdict(method, mae, sign=1)
    assert result['difference'] == pytest.approx(11.0)
    assert result['se'] == pytest.approx((5 / 3)**0.5)
    assert result['verdict'] == 'holds'
    assert verdict(method, mae, sign=-1)['verdict'] == 'does not hold'
    assert verdict(spread([80.0]), spread([70.0]), 1)['verdict'] == 'one seed'
    assert verdict(spread([8.4] * 3), spread([8.4] * 3), 1)['verdict'] == 'no difference'
    assert last_blocks(6) == [5, 6] and last_blocks(12) == [9, 10, 11, 12]


def test_within_noise_says_how_many_seeds_the_difference_would_need():
    # difference 2 (73 vs 71), stds 2 and 1: se = sqrt(5/3) = 1.29, 2 se = 2.58 > 2
    row = verdict(spread([71.0, 73.0, 75.0]), spread([70.0, 71.0, 72.0]), 1)
    assert row['verdict'] == 'within noise'
    # 2 > 2 sqrt(5 / n)  <=>  n > 5: six seeds
    assert row['seeds_needed'] == 6 == seeds_needed(2.0, dict(std=2.0), dict(std=1.0))
    assert verdict(spread([80.0, 82.0, 84.0]), spread([70.0, 71.0, 72.0]), 1).get(
        'seeds_needed') is None  # only for 'within noise'


def run(knn, knn_blocks=None, aad_blocks=None, supervised=(), top1=None, miou=None,
        curve=None):
    out = dict(evaluate=dict(knn=knn, knn_blocks=knn_blocks or [knn] * 6,
                             aad_blocks=aad_blocks, supervised_blocks=list(supervised),
                             diversity_blocks=None, cka_blocks=None, dense_miou=None),
               pretrain=dict(curve=curve or []))
    if top1 is not None:
        out['finetune'] = dict(top1=top1)
    if miou is not None:
        out['segment'] = dict(miou=miou)
    return out


def test_claims_read_the_runs_blocks():
    mae = [run(60 + s, [10, 20, 30, 40, 50, 60], [5, 5, 5, 5, 8, 8], miou=30 + s)
           for s in range(3)]
    deepmim = [run(61 + s, [10, 20, 35, 45, 55, 61], [5] * 6, (3, 4, 5), miou=29 + s)
               for s in range(3)]
    ddae = [run(40 + s, [10] * 6, [5, 5, 5, 5, 4, 4 + 0.1 * s], (2, 4), miou=30 + s)
            for s in range(3)]
    rows = {(r['method'], r['claim']): r for r in judge(
        dict(mae=mae, deepmim=deepmim, ddae=ddae), ['mae', 'deepmim', 'ddae'])}
    inter = rows[('deepmim', "intermediate blocks' k-NN above MAE's")]
    assert inter['value']['mean'] == pytest.approx(45.0)  # blocks 3-5: 35, 45, 55
    assert inter['base']['mean'] == pytest.approx(40.0)  # 30, 40, 50
    assert inter['verdict'] == 'holds'  # no spread over seeds, a difference of 5
    local = rows[('ddae', "deep blocks more local than MAE's")]
    assert local['value']['mean'] == pytest.approx(4.05)  # blocks 5, 6 (last third)
    assert local['difference'] == pytest.approx(8 - 4.05) and local['verdict'] == 'holds'
    assert rows[('ddae', "k-NN above MAE's")]['verdict'] == 'does not hold'
    assert rows[('deepmim', "mIoU above MAE's")]['verdict'] == 'within noise'  # -1 +- 0.82
    # no fine-tuning stage in these runs: no row; no CKA: not measured
    assert ('deepmim', "fine-tuned top-1 above MAE's") not in rows
    assert rows[('deepmim', "supervised blocks closer to the last block (CKA) than MAE's")][
        'verdict'] == 'not measured'


def test_a_number_within_noise_of_the_untrained_encoder_is_not_learned():
    # LUT's k-NN 40 +- 1 against the untrained ViT's 41 +- 1: within noise of it, so its
    # 20-point deficit against MAE is a model that did not learn, not a claim that fails
    mae = [run(60.0 + s) for s in range(3)]
    lut = [run(39.0 + s, aad_blocks=[16.0] * 6) for s in range(3)]
    mae[0]['evaluate']['aad_blocks'] = mae[1]['evaluate']['aad_blocks'] = \
        mae[2]['evaluate']['aad_blocks'] = [14.0] * 6
    untrained = dict(knn=[40.0, 41.0, 42.0], aad_blocks=[[16.5] * 6, [16.6] * 6, [16.4] * 6],
                     finetune=[30.0, 31.0, 32.0])
    rows = {r['claim']: r for r in judge(dict(mae=mae, lut=lut), ['mae', 'lut'], untrained)}
    knn = rows["k-NN above MAE's"]
    assert knn['difference'] == pytest.approx(-21.0) and knn['verdict'] == 'not learned'
    assert knn['untrained']['mean'] == 41.0
    # attention distance 16.0 against the untrained 16.5 +- 0.1, both without spread over
    # LUT's seeds: a difference of 0.5 > 2 se, so LUT's attention did change: judged
    aad = rows["attention distance of the last blocks above MAE's"]
    assert aad['verdict'] == 'holds'
    # the baseline's number is the untrained one: 'baseline not learned'
    rows = {r['claim']: r for r in judge(dict(mae=[run(41.0 + s) for s in range(3)],
                                              lut=[run(60.0 + s) for s in range(3)]),
                                         ['mae', 'lut'], untrained)}
    assert rows["k-NN above MAE's"]['verdict'] == 'baseline not learned'


def test_the_curve_judges_every_point_and_reads_the_last_half():
    def curve(values):
        return [dict(iter=100 * i, knn=v, knn_blocks=[v] * 6) for i, v in enumerate(values)]
    # MAE and DeepMIM start at the untrained 40; DeepMIM is ahead until 300, then level
    mae = [run(0, curve=curve([40 + s, 50 + s, 60 + s, 70 + s, 80 + s])) for s in range(3)]
    deepmim = [run(0, supervised=(3, 4, 5), curve=curve([40 + s, 60 + s, 70 + s, 71 + s,
                                                         80 + s])) for s in range(3)]
    rows = {r['claim']: r for r in curve_verdicts(dict(mae=mae, deepmim=deepmim),
                                                  ['mae', 'deepmim'])}
    final = rows["final k-NN above MAE's"]
    assert [(it, word) for it, word, _ in final['points']] == [
        (0, 'within noise'), (100, 'holds'), (200, 'holds'), (300, 'within noise'),
        (400, 'within noise')]
    assert final['stability'] == 'holds at 200, within noise at 300-400'
    assert stability([(0, 'a', 0), (100, 'b', 0), (200, 'b', 0), (300, 'b', 0)]) == \
        'b from iteration 100 on'
    # a point within noise of its own untrained start is 'not learned'
    flat = [run(0, supervised=(3, 4, 5), curve=curve([40 + s, 40 + s, 41 + s, 40 + s,
                                                      41 + s])) for s in range(3)]
    rows = curve_verdicts(dict(mae=mae, deepmim=flat), ['mae', 'deepmim'])
    assert {word for it, word, _ in rows[0]['points'] if it} == {'not learned'}


def test_convergence_counts_iterations_to_the_baselines_final_knn():
    def curve(values):
        return [dict(iter=100 * i, knn=v) for i, v in enumerate(values)]
    # the interpolated crossing of 70: between 60 at 100 and 80 at 200 -> 150
    assert reach([curve([40, 60, 80])], 70.0) == [150.0]
    assert reach([curve([40, 50, 60])], 70.0) == [200.0]  # never: the last iteration
    mae = [run(0, curve=curve([40, 50 + s, 60 + s, 70 + s])) for s in (-1, 0, 1)]
    deepmim = [run(0, curve=curve([40, 70 + s, 75, 80])) for s in (-1, 0, 1)]
    row = convergence(dict(mae=mae, deepmim=deepmim), ['mae', 'deepmim'])[0]
    assert row['target'] == 70.0
    # DeepMIM reaches 70 at 117, 100 and 97 (seed -1: 69 at 100, 75 at 200)
    assert row['value']['values'] == pytest.approx([100 + 100 / 6, 100, 100 * 30 / 31])
    assert row['base']['values'] == pytest.approx([300, 300, 290])
    assert row['verdict'] == 'holds'


def test_methods_are_read_from_their_configs():
    facts = METHODS['deepmim-simmim'].facts
    assert facts['framework'] == 'SimMIM' and not facts['vit']
    assert facts['techniques'] == ('deepmim', )
    assert METHODS['ddae-lut'].facts['techniques'] == ('ddae', 'lut')
    assert METHODS['maskfeat'].facts['techniques'] == () and METHODS['maskfeat'].facts['vit']
    assert {m: baseline(m) for m in METHODS} == {
        'mae': None, 'deepmim': 'mae', 'ddae': 'mae', 'lut': 'mae', 'ddae-lut': 'mae',
        'maskfeat': None, 'deepmim-maskfeat': 'maskfeat', 'ddae-maskfeat': 'maskfeat',
        'simmim': None, 'deepmim-simmim': 'simmim', 'ddae-simmim': 'simmim'}
    # each technique's claims once, then every technique's
    assert [c.text for c in claims_of('ddae-lut')] == [
        "attention distance of the last blocks above {base}'s", "k-NN above {base}'s",
        "deep blocks more local than {base}'s", "fine-tuned top-1 above {base}'s",
        "mIoU above {base}'s", "dense-probe mIoU above {base}'s"]


def test_a_config_given_on_the_command_line_joins_the_job():
    from mim_deepsup.main_job.job import parse_args
    path = os.path.join(os.path.dirname(METHODS['lut'].path), 'lut_ablations',
                        'lut-m0990-w0_vit-tiny-p4_digits.py')
    try:
        args = parse_args(['--methods', 'mae', '--config', f'no-context={path}'])
        assert args.methods == ['mae', 'no-context']
        assert METHODS['no-context'].facts['techniques'] == ('lut', )
        assert baseline('no-context') == 'mae'  # read from its config, as for the others
        with pytest.raises(SystemExit):  # its baseline must run too
            parse_args(['--methods', 'lut', '--config', f'no-context={path}'])
    finally:
        METHODS.pop('no-context', None)
    with pytest.raises(SystemExit):
        parse_args(['--config', f'lut={path}'])  # a name the job has
    with pytest.raises(SystemExit):
        parse_args(['--methods', 'nothing'])


def test_the_report_says_who_learned_and_whose_curve_flattened():
    from mim_deepsup.main_job.report import learning, learning_markdown

    def curve(values):
        return [dict(iter=100 * i, knn=v) for i, v in enumerate(values)]
    runs = dict(mae=[run(70.0, curve=curve([40, 50, 60, 64, 65])),  # +1 over the last quarter
                     run(72.0, curve=curve([40, 50, 60, 66, 66]))],  # 0
                lut=[run(45.0, curve=curve([40, 35, 38, 40, 45]))] * 2)  # +5
    rows = {r['method']: r for r in learning(runs, untrained_knn=41.0)}
    assert rows['mae']['knn'] == 71.0 and rows['mae']['above_untrained'] == 30.0
    assert rows['mae']['quarter_from'] == 300 and rows['mae']['last_quarter'] == 0.5
    assert rows['lut']['above_untrained'] == 4.0 and rows['lut']['last_quarter'] == 5.0
    text = learning_markdown(list(rows.values()))
    assert '| MAE | 71.00 | +30.00 | +0.50 (from iteration 300) | flattened |' in text
    assert '| LUT | 45.00 | +4.00 | +5.00 (from iteration 300) | less than 10 points above ' \
        'the untrained ViT; still rising |' in text
