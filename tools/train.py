"""Train a model from a config, with mmpretrain's command-line interface.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp]
        [--no-validate] [--auto-scale-lr] [--default-malloc] [--cfg-options k=v ...]
        [--launcher pytorch]
"""
import argparse
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import FlexibleRunner, Runner

import mim_deepsup  # noqa: F401  (registers components)
from mim_deepsup.benchmarking.cpu_tuning import keep_freed_memory
from mim_deepsup.engine import last_complete_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mim-deepsup)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or with no value (or "auto") from the newest complete '
        'checkpoint in the work dir (none: start afresh)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: AmpOptimWrapper (fp16) on CUDA, '
                        'BF16OptimWrapper (bf16 autocast) on the CPU')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by actual batch size / base batch size')
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='disable pin_memory in the dataloaders')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='disable persistent_workers in the dataloaders')
    parser.add_argument('--default-malloc', action='store_true',
                        help='keep glibc malloc\'s defaults, which return freed memory to '
                        'the kernel (by default freed memory is kept for the next step: '
                        'docs/performance.md)')
    return parse_with_launcher_args(parser, argv)


def parse_with_launcher_args(parser: argparse.ArgumentParser, argv=None):
    """Add the arguments every tool shares (--cfg-options, --launcher, --local-rank) and
    parse; torch.distributed.launch passes --local-rank, torchrun sets LOCAL_RANK."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_args(cfg: Config, args) -> Config:
    """Fold the command-line switches into the config (CLI > config file)."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        if cfg.get('strategy') is not None:
            raise ValueError(
                f'--amp: {args.config} sets `strategy`, whose own optimizer wrapper and '
                f'precision settings (docs/distributed.md) --amp would replace; set mixed '
                f'precision in the config instead')
        if torch.cuda.is_available():  # mmengine's usual fp16 path, loss scaling included
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # AmpOptimWrapper refuses a machine without an accelerator: bf16 autocast
            cfg.optim_wrapper.type = 'BF16OptimWrapper'
            cfg.optim_wrapper.pop('loss_scale', None)
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader is None:
            continue
        loader.setdefault('pin_memory', True)
        loader.setdefault('persistent_workers', loader.get('num_workers', 0) > 0)
        if args.no_pin_memory:
            loader.pin_memory = False
        if args.no_persistent_workers:
            loader.persistent_workers = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.resume == 'auto':  # the newest complete checkpoint, or a fresh start
        cfg.load_from = last_complete_checkpoint(cfg.work_dir)
        cfg.resume = cfg.load_from is not None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader is not None and loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False  # DataLoader refuses it without workers
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (torchrun) run on machines without CUDA.

    mmengine 0.10's launcher always selects a CUDA device. Without one, start the process
    group here with gloo from torchrun's environment (mmengine then skips its own set-up)
    and build DDP without ``device_ids``, as CPU modules require.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel')
    cfg.model_wrapper_cfg.setdefault('device_ids', None)


def close_distributed() -> None:
    """Wait for every rank, then shut the process group down before the interpreter exits.

    mmengine leaves the group open; with gloo, a rank that exits with it open aborts now and
    then ("terminate called without an active exception", SIGABRT, 6 of 40 two-rank CPU
    runs) after its checkpoint is saved. The barrier keeps a rank from closing its
    connections while another still reads from them.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(argv=None):
    args = parse_args(argv)
    if not (args.default_malloc or torch.cuda.is_available()):  # CPU-only tuning
        done = keep_freed_memory()
        if os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')) == '0':
            print(done)
    cfg = apply_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    # a config's `runner_type`, as mmpretrain's train tool; else FlexibleRunner for a
    # `strategy` (FSDP, DeepSpeed: docs/distributed.md), else Runner
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    elif cfg.get('strategy') is not None:
        runner = FlexibleRunner.from_cfg(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(runner.work_dir, 'last_checkpoint')
    if runner.rank == 0 and osp.isfile(ckpt):
        with open(ckpt) as f:
            print(f'checkpoint: {f.read().strip()}')
        print(f'log: {runner.log_dir}')
    close_distributed()


if __name__ == '__main__':
    main()
