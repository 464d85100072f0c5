"""The main job, shortened: every method pretrained, evaluated and fine-tuned in one run,
and a table made of what the runs logged."""
import glob
import json
import math
import os.path as osp

import numpy as np


def logged(work_dir, key):
    """The values of ``key`` in the scalars mmengine's visualizer wrote for a run."""
    path = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[-1]
    with open(path) as f:
        return [r[key] for r in map(json.loads, f) if key in r]


def unsmoothed(values):
    """mmengine logs each iteration's loss as the mean of the last (up to) 10 iterations;
    for the first 10 that mean inverts exactly to the iterations' own losses."""
    assert len(values) <= 10
    return [(n + 1) * s - n * prev for n, (s, prev) in enumerate(zip(values, [0] + values))]


def test_main_job_table_comes_from_the_runs(demo_data, tmp_path, capsys):
    from tools.main_job import main
    work = tmp_path / 'main'
    rows = main(['--work-dir', str(work), '--data', demo_data['root'], '--epochs', '2',
                 '--seg-iters', '2', '--log-interval', '1'])
    assert [r['method'] for r in rows] == ['mae', 'deepmim', 'ddae', 'lut']
    out = capsys.readouterr().out
    table = (work / 'summary.md').read_text()
    assert table.splitlines()[0].startswith('| method | pretrain loss')
    for row in rows:
        method = row['method']
        for key in ('loss', 'pixel_loss', 'knn', 'miou', 'step_time'):
            assert math.isfinite(row[key]), (method, key)
        # the last epoch's losses as the log has them (2 epochs of 1 iteration: 32 images)
        losses = unsmoothed(logged(work / method / 'pretrain', 'loss'))
        assert len(losses) == 2
        np.testing.assert_allclose(row['loss'], losses[-1], rtol=1e-5)
        assert row['miou'] == logged(work / method / 'seg', 'mIoU')[-1]
        assert f'| {method} | {row["loss"]:.4f} |' in table
        for name in ('knn', 'aad', 'cka', 'diversity', 'spectrum', 'reconstruction'):
            png = work / method / 'analysis' / f'{name}.png'
            assert png.exists() and f'{method}: {png}' in out
    assert rows[2]['pixel_loss'] != rows[2]['loss']  # DDAE: loss_mim plus its aux losses
    assert rows[0]['pixel_loss'] == rows[0]['loss']  # MAE: one loss
    assert 'k-NN references: raw pixels' in table
    assert table.strip() in out  # printed as written
