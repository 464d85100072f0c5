"""Building and timing one config's training step: the model, its optimizer, a random
batch at the model's input size, and the step's FLOPs and peak memory."""
import os.path as osp
import resource
import subprocess
import sys
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, OPTIM_WRAPPERS, TRANSFORMS
from mmpretrain.structures import DataSample

from ..config_paths import config_root
from ..fileio import REPO_ROOT

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
    return osp.join(config_root(), path)


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
        ('DDAE+LUT', 'DDAE', 'LUT'), osp.join(REPO_ROOT, 'docs', 'benchmarks.md')),
    beitv2=Family(
        Entry('mmpretrain BEiT-v2, fused AdamW', MMPRETRAIN_BEITV2, SAME_OPTIMIZER),
        (Entry('mmpretrain BEiT-v2 as released', MMPRETRAIN_BEITV2),
         Entry('BEiT-v2',
               _config('_base_/composable-beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')),
         Entry('BEiT-v2 + DeepMIM',
               _config('deepmim/deepmim_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py')),
         Entry('BEiT-v2 + DDAE',
               _config('ddae/ddae_beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'))),
        None, osp.join(REPO_ROOT, 'docs', 'benchmarks-beitv2.md')),
)



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
            model.update_teacher()  # at PROGRESS, set below
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    return step


def build_steps(config: str, batch_size: int, device: torch.device, cfg_options=None,
                precisions: Sequence[str] = ('config', )):
    """Build the model of ``config`` once; return ({precision: step function}, input size,
    model). The precisions' steps share the model and its optimizer."""
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    if hasattr(model, 'set_progress'):  # what TrainingProgressHook does before each step
        model.set_progress(PROGRESS)
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
    cmd = [sys.executable, '-m', 'mim_deepsup.benchmarking', config,
           '--batch-size', str(batch_size), '--iters', str(steps), '--precision', precision,
           '--memory-child']
    if default_malloc:  # the child's allocator as the timed process's
        cmd.append('--default-malloc')
    cmd += option_args('--cfg-options', cfg_options)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])
