"""The DDAE + LUT combination (one teacher pass per step) and the benchmark tool's table
mode on tiny configs. Nothing here asserts a timing: the machine's load varies."""
import math
import os.path as osp
import subprocess

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mim_deepsup.testing import ROOT, TINY_MAE, build_model, tiny_runner_cfg

TINY = osp.join(ROOT, 'configs', '{}_vit-tiny-p4_1xb32-20e_demo.py')
TINY_DDAE = TINY.format('ddae/ddae')
TINY_LUT = TINY.format('lut/lut')
TINY_LUT_CPU = TINY.format('lut/lut-cpuaug')
TINY_DDAE_LUT = TINY.format('ddae/ddae-lut')
VIT_B_DDAE_LUT = osp.join(ROOT, 'configs', 'ddae',
                          'ddae-lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py')


def count_calls(module, calls):
    """Record the batch size of every forward call of ``module``."""
    return module.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))


def test_combined_configs_are_luts_plus_ddaes_parts():
    for combined, lut, ddae in (
            (TINY_DDAE_LUT, TINY_LUT, TINY_DDAE),
            (VIT_B_DDAE_LUT,
             osp.join(ROOT, 'configs', 'lut', 'lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'),
             osp.join(ROOT, 'configs', 'ddae',
                      'ddae_mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'))):
        cfg, lut, ddae = (Config.fromfile(p) for p in (combined, lut, ddae))
        assert cfg.model.supervisions == dict(lut.model.supervisions,
                                              ddae=ddae.model.supervisions.ddae)
        assert cfg.model.head.loss == ddae.model.head.loss
        assert cfg.model.teacher == lut.model.teacher  # LUT's: average_buffers=True
        assert cfg.train_dataloader.dataset.pipeline == lut.train_dataloader.dataset.pipeline
        assert cfg.train_cfg == lut.train_cfg and cfg.optim_wrapper == lut.optim_wrapper


def test_combined_step_runs_student_and_teacher_once_over_both_views():
    from mim_deepsup.benchmarking.steps import build_step
    step, size, model = build_step(TINY_DDAE_LUT, 2, torch.device('cpu'))
    assert size == 32 and model.num_views == 2
    teacher, student = [], []
    handle = count_calls(model.teacher['backbone'], teacher)
    forward_masked = model.backbone.forward_masked

    def counted(x, *args, **kwargs):
        student.append(len(x))
        return forward_masked(x, *args, **kwargs)

    model.backbone.forward_masked = counted
    try:
        for _ in range(2):
            step()
    finally:
        handle.remove()
        del model.backbone.forward_masked
    # per step: one teacher pass and one student pass, each over the 2 views x 2 images
    assert teacher == [4, 4] and student == [4, 4]


def test_combined_model_gives_every_term_and_ddae_reads_the_first_view():
    cfg = Config.fromfile(TINY_DDAE_LUT)
    model = build_model(cfg.model)
    views = [torch.randn(3, 3, 32, 32) for _ in range(2)]
    torch.manual_seed(0)
    state = model.compute_state(views)
    assert state.view_teacher_tokens.shape[:2] == (2, 3)
    assert torch.equal(state.teacher_tokens, state.view_teacher_tokens[0])
    assert all(tap.shape[0] == 3 for tap in state.taps.values())  # view 1 only
    losses = model.add_component_losses({}, state)
    assert set(losses) == {'loss_lut', 'loss_ddae_l2', 'loss_ddae_l4'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_runner_trains_the_combined_tiny_config(demo_data, tmp_path):
    cfg = tiny_runner_cfg(demo_data, tmp_path, config=TINY_DDAE_LUT, max_epochs=1)
    runner = Runner.from_cfg(cfg)
    calls = []
    handle = count_calls(runner.model.teacher['backbone'], calls)
    try:
        runner.train()
    finally:
        handle.remove()
    assert calls == [32, 32]  # 2 iterations of 16 images x 2 views: one pass each
    scalars = runner.message_hub.log_scalars
    for key in ('loss', 'loss_mim', 'loss_lut', 'loss_ddae_l2', 'loss_ddae_l4'):
        values = scalars[f'train/{key}'].data[0]
        assert len(values) == 2 and all(math.isfinite(v) for v in values), key


# --------------------------------------------------------------------------------------
# table mode

# mmpretrain's own MAE and MAEViT with the tiny config's sizes: the tiny baseline
TINY_MMPRETRAIN_MAE = """
_base_ = {base!r}
model = dict(
    _delete_=True,
    type='MAE',
    backbone=dict(type='MAEViT', arch=dict(embed_dims=64, num_layers=6, num_heads=4,
                                           feedforward_channels=256),
                  img_size=32, patch_size=4, mask_ratio=0.75),
    neck={{{{_base_.model.neck}}}},
    head={{{{_base_.model.head}}}},
    init_cfg={{{{_base_.model.init_cfg}}}})
"""


def parse_tables(text):
    """{section title: [row dicts]} of every Markdown table under a '## ' heading."""
    tables, title, header = {}, None, None
    for line in text.splitlines():
        if line.startswith('## '):
            title, header = line[3:], None
        elif line.startswith('|') and not line.startswith('|---'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            if header is None:
                header = cells
                tables[title] = []
            else:
                tables[title].append(dict(zip(header, cells)))
    return tables


@pytest.fixture(scope='module')
def tiny_table(tmp_path_factory):
    from mim_deepsup.benchmarking.cli import main
    tmp = tmp_path_factory.mktemp('table')
    baseline = tmp / 'mmpretrain_mae_tiny.py'
    baseline.write_text(TINY_MMPRETRAIN_MAE.format(base=TINY_MAE))
    out = tmp / 'benchmarks.md'
    main(['--table', '--configs', f'MAE={TINY_MAE}', f'DDAE={TINY_DDAE}', f'LUT={TINY_LUT}',
          f'DDAE+LUT={TINY_DDAE_LUT}', '--baseline', f'mmpretrain MAE={baseline}',
          '--batch-size', '2', '--warmup', '1', '--iters', '2', '--no-memory',
          '--default-malloc', '--out', str(out)])
    return out.read_text()


@pytest.mark.slow
def test_table_mode_writes_both_precisions_with_every_row(tiny_table):
    from mim_deepsup.benchmarking.table import COLUMNS, SPEEDUP_COLUMN
    assert tiny_table.startswith('# Training-step benchmark\n')
    assert 'Partial' not in tiny_table
    header = tiny_table.split('\n## ')[0]
    for fact in ('logical cores', f'torch {torch.__version__}', f'{torch.get_num_threads()} '
                 'threads', 'batch 2, 2 timed steps per config and precision after 1 warm-up',
                 'UTC', 'peak memory: not measured'):
        assert fact in header, fact
    tables = parse_tables(tiny_table)
    fp32 = tables['fp32 (`OptimWrapper`)']
    bf16 = tables['bf16 autocast (`BF16OptimWrapper`)']
    labels = ['mmpretrain MAE (baseline)', 'MAE', 'DDAE', 'LUT', 'DDAE+LUT']
    for rows, columns in ((fp32, COLUMNS), (bf16, COLUMNS + (SPEEDUP_COLUMN, ))):
        assert [row['method'] for row in rows] == labels
        assert all(list(row) == list(columns) for row in rows)
        for row in rows:
            assert row['peak memory (MiB)'] == '—'
            numbers = {k: float(v) for k, v in row.items()
                       if k not in ('method', 'peak memory (MiB)', 'quartiles of ratio')}
            assert all(v > 0 for v in numbers.values()), row
            if row['method'] != labels[0]:
                low, high = map(float, row['quartiles of ratio'].split(' to '))
                assert 0 < low <= float(row['ratio to baseline']) <= high
        assert rows[0]['ratio to baseline'] == rows[0]['FLOPs ratio'] == '1.000'


@pytest.mark.slow
def test_table_mode_flops_ratios(tiny_table):
    tables = parse_tables(tiny_table)
    fp32 = {row['method']: row for row in tables['fp32 (`OptimWrapper`)']}
    bf16 = {row['method']: row for row in tables['bf16 autocast (`BF16OptimWrapper`)']}
    ratio = {label: float(row['FLOPs ratio']) for label, row in fp32.items()}
    assert ratio['MAE'] == 1.0  # our core: mmpretrain's MAE's FLOPs exactly
    assert 1 < ratio['DDAE'] < ratio['DDAE+LUT'] and 1 < ratio['LUT'] < ratio['DDAE+LUT']
    # sharing the teacher's pass: the combination adds less than the two extras together
    assert ratio['DDAE+LUT'] - 1 < (ratio['DDAE'] - 1) + (ratio['LUT'] - 1)
    for label, row in fp32.items():  # a step's FLOPs do not depend on the precision
        assert row['FLOPs ratio'] == bf16[label]['FLOPs ratio']
        assert row['GFLOP/step'] == bf16[label]['GFLOP/step']


@pytest.mark.slow
def test_table_mode_compares_the_combination_with_its_parts(tiny_table):
    rows = parse_tables(tiny_table)['DDAE+LUT against DDAE and LUT separately']
    assert [row['precision'] for row in rows] == ['fp32', 'bf16']
    flops = {row['method']: float(row['FLOPs ratio'])
             for row in parse_tables(tiny_table)['fp32 (`OptimWrapper`)']}
    expected = 1 - (flops['DDAE+LUT'] - 1) / (flops['DDAE'] + flops['LUT'] - 2)
    for row in rows:
        float(row['extra(DDAE+LUT)'])
        float(row['saving'])
        parts, total = row['extra(DDAE) + extra(LUT)'].split(' = ')
        first, second = map(float, parts.split(' + '))
        assert float(total) == pytest.approx(first + second, abs=2e-3)
        # from the FLOPs table's rounded ratios
        assert float(row['saving predicted by FLOPs']) == pytest.approx(expected, abs=0.01)
        assert float(row['saving predicted by FLOPs']) > 0


def test_table_mode_refuses_bad_arguments(tmp_path):
    from mim_deepsup.benchmarking.cli import main
    with pytest.raises(SystemExit):
        main(['--table', TINY_MAE])
    with pytest.raises(SystemExit):
        main([TINY_MAE, '--configs', TINY_MAE])
    with pytest.raises(SystemExit, match='labels must differ'):
        main(['--table', '--configs', TINY_MAE, TINY_MAE, '--out', str(tmp_path / 'x.md'),
              '--default-malloc'])
    assert not (tmp_path / 'x.md').exists()
    with pytest.raises(SystemExit):
        main([TINY_MAE, '--family', 'beitv2'])


def test_table_families_choose_baseline_configs_combination_and_file():
    from mim_deepsup.benchmarking.cli import parse_args
    from mim_deepsup.benchmarking.steps import FAMILIES
    from mim_deepsup.benchmarking.table import table_entries
    args = parse_args(['--table'])  # the default: every method on MAE against mmpretrain's
    assert args.out == osp.join(ROOT, 'docs', 'benchmarks.md')
    assert args.combination == ['DDAE+LUT', 'DDAE', 'LUT']
    assert [e.label for e in table_entries(args)] == [
        'mmpretrain MAE as released', 'MAE', 'DeepMIM', 'DDAE', 'LUT', 'DDAE+LUT']
    args = parse_args(['--table', '--family', 'beitv2'])
    assert args.out == osp.join(ROOT, 'docs', 'benchmarks-beitv2.md')
    assert args.combination is None
    assert [e.label for e in table_entries(args)] == [
        'mmpretrain BEiT-v2 as released', 'BEiT-v2', 'BEiT-v2 + DeepMIM', 'BEiT-v2 + DDAE']
    assert FAMILIES['beitv2'].baseline.config.startswith('mmpretrain::beitv2/beitv2_')
    for family in FAMILIES.values():
        released, ours = family.configs[:2]
        # the first row is the baseline's config without the baseline's overrides
        assert released.config == family.baseline.config and not released.options
        assert all(osp.isfile(e.config) for e in family.configs[1:])
    # options override the family's
    args = parse_args(['--table', '--family', 'beitv2', '--out', 'x.md', '--combination',
                       'a', 'b', 'c'])
    assert args.out == 'x.md' and args.combination == ['a', 'b', 'c']


def test_table_options_add_to_a_family_s_own(monkeypatch):
    from mim_deepsup.benchmarking import table
    from mim_deepsup.benchmarking.cli import parse_args
    from mim_deepsup.benchmarking.steps import FAMILIES, Entry, Family
    monkeypatch.setitem(FAMILIES, 'tiny', Family(
        Entry('base', TINY_MAE, {'a': 1}), (Entry('row', TINY_MAE, {'b': 2}), ),
        None, 'x.md'))
    args = parse_args(['--table', '--family', 'tiny', '--cfg-options', 'c=3',
                          '--baseline-cfg-options', 'a=5', 'd=4'])
    assert [e.options for e in table.table_entries(args)] == [{'b': 2, 'c': 3}]
    assert table.table_baseline(args).options == {'a': 5, 'd': 4}
    assert '--cfg-options c=3 --baseline-cfg-options a=5 d=4' in table.command_line(args)
    args = parse_args(['--table', '--family', 'tiny'])
    assert table.table_baseline(args).options == {'a': 1}
    with pytest.raises(SystemExit):  # a single config's baseline options need a baseline
        parse_args([TINY_MAE, '--baseline-cfg-options', 'a=1'])


def test_table_baseline_options_reach_its_step_and_memory_pass(tmp_path, monkeypatch):
    """The baseline's overrides are those its step runs with (here a mask ratio of 0.5:
    twice the visible patches, so our identical MAE at 0.75 counts fewer FLOPs) and those
    its memory pass gets."""
    from mim_deepsup.benchmarking import table
    from mim_deepsup.benchmarking.cli import main
    memory = []

    def peak_memory_mib(config, batch_size, steps, device, options, *rest):
        memory.append(options)
        return 1.0

    monkeypatch.setattr(table, 'peak_memory_mib', peak_memory_mib)
    out = tmp_path / 't.md'
    main(['--table', '--configs', f'MAE={TINY_MAE}', '--baseline', f'half={TINY_MAE}',
             '--baseline-cfg-options', 'model.backbone.mask_ratio=0.5', '--precisions',
             'fp32', '--iters', '1', '--warmup', '0', '--default-malloc', '--out', str(out)])
    text = out.read_text()
    config = osp.relpath(TINY_MAE, ROOT)
    assert f'- baseline: half (`{config}` with `model.backbone.mask_ratio=0.5`)' in text
    assert '--baseline-cfg-options model.backbone.mask_ratio=0.5' in text
    row = parse_tables(text)['fp32 (`OptimWrapper`)'][1]
    assert row['method'] == 'MAE' and float(row['FLOPs ratio']) < 0.9
    assert memory == [{'model.backbone.mask_ratio': 0.5}, None]  # the baseline's, then MAE's


def test_single_mode_baseline_options_reach_its_step(capsys):
    from mim_deepsup.benchmarking.cli import main
    main([TINY_MAE, '--baseline', TINY_MAE, '--baseline-cfg-options',
          'model.backbone.mask_ratio=0.5', '--iters', '1', '--warmup', '0', '--no-memory',
          '--default-malloc'])
    ratio = capsys.readouterr().out.split('FLOPs ratio to baseline: ')[1].split()[0]
    assert float(ratio) < 0.9  # the baseline encodes twice the visible patches


@pytest.mark.slow
def test_memory_pass_runs_with_the_overrides():
    from mim_deepsup.benchmarking.steps import peak_memory_mib
    with pytest.raises(subprocess.CalledProcessError):  # the child builds what it is given
        peak_memory_mib(TINY_MAE, 2, 1, torch.device('cpu'),
                        cfg_options={'model.backbone.arch': 'no-such-arch'})


@pytest.mark.parametrize('family', ['mae', 'beitv2'])
def test_table_baseline_runs_our_bases_optimizer(family):
    """The baseline's optimizer settings (type, lr, betas, weight decay, fused) are our
    plain config's (techniques off), so a ratio to it measures the technique and not the
    optimizer; the config as released differs in ``fused`` alone."""
    from mim_deepsup.benchmarking.steps import FAMILIES, load_config
    base, (released, ours) = FAMILIES[family].baseline, FAMILIES[family].configs[:2]

    def optimizer(entry):
        cfg = load_config(entry.config, entry.options).optim_wrapper.optimizer.to_dict()
        cfg.pop('_scope_', None)
        return cfg

    assert optimizer(base) == optimizer(ours)
    assert optimizer(ours)['fused'] is True
    assert {k: v for k, v in optimizer(base).items() if k != 'fused'} == optimizer(released)
    assert 'fused' not in optimizer(released)
    # the table names the baseline's override next to its config
    from mim_deepsup.benchmarking.table import _described
    assert _described(base) == f'`{base.config}` with `optim_wrapper.optimizer.fused=True`'
    assert _described(released) == f'`{released.config}`'


@pytest.mark.slow
def test_memory_child_runs_the_bf16_step():
    from mim_deepsup.benchmarking.steps import peak_memory_mib
    assert peak_memory_mib(TINY_MAE, 2, 1, torch.device('cpu'), precision='bf16') > 0


# --------------------------------------------------------------------------------------
# data mode


def test_data_mode_times_every_transform_of_each_view(tmp_path, capsys):
    from mim_deepsup.benchmarking.cli import main
    from mim_deepsup.benchmarking.data import make_jpegs, time_pipeline
    images = make_jpegs(str(tmp_path), 4)
    assert make_jpegs(str(tmp_path), 4) == images  # made once, then reused
    # the CPU colour path: two view pipelines, with RandomApply and ThreeAugment in one
    result = time_pipeline(TINY_LUT_CPU, images, rounds=2)
    names = list(result['transforms'])
    # both views' crops are timed, each under its own view
    assert any(n.startswith('[2] MultiView.pipelines[0][0] SimpleResizedCrop') for n in names)
    assert any(n.startswith('[2] MultiView.pipelines[1][0] SimpleResizedCrop') for n in names)
    top = sum(ms for n, ms in result['transforms'].items() if '.' not in n)
    inside = sum(ms for n, ms in result['transforms'].items()
                 if n.startswith('[2] MultiView.') and n.count('.') == 1)
    assert 0 < inside <= result['transforms']['[2] MultiView'] * 1.05
    assert 0 < top <= result['total'] * 1.05  # no call counted twice
    main(['--data', f'MAE={TINY_MAE}', f'LUT={TINY_LUT}', '--images', '2', '--iters', '2'])
    out = capsys.readouterr().out
    assert '| MAE | ' in out and '| LUT | ' in out and 'ratio to MAE' in out
    with pytest.raises(SystemExit):  # one round would be the warm-up alone
        main(['--data', TINY_MAE, '--iters', '1'])


def test_data_mode_runs_with_a_data_loader_workers_threads(tmp_path):
    import cv2

    from mim_deepsup.benchmarking.data import make_jpegs, time_pipelines, worker_threads
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(2)
    try:
        with worker_threads():
            assert torch.get_num_threads() == 1
            assert cv2.getNumThreads() <= 1  # 0 set: OpenCV runs its calls in the caller
        assert torch.get_num_threads() == 2  # the process's own afterwards
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
    images = make_jpegs(str(tmp_path), 2)
    results = time_pipelines({'a': TINY_MAE, 'b': TINY_MAE}, images, rounds=2)
    assert list(results) == ['a', 'b'] and all(r['total'] > 0 for r in results.values())
