"""Evaluate a checkpoint with a config's test loop (mmpretrain's command-line interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json]
        [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

from mmengine.config import Config
from mmengine.runner import Runner

# the launcher helpers are tools/train.py's, imported from the checkout this script is in
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mim_deepsup  # noqa: E402,F401  (registers components)
from tools.train import (  # noqa: E402
    close_distributed,
    parse_with_launcher_args,
    setup_cpu_distributed,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint (mim-deepsup)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation logs')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    return parse_with_launcher_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('test_dataloader') is None:
        raise SystemExit(f'{args.config}: has no test_dataloader/test_evaluator; '
                         f'pretraining configs are evaluated through their fine-tuning configs')
    cfg.launcher = args.launcher
    setup_cpu_distributed(cfg)
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        out_dir = osp.dirname(osp.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile('w', dir=out_dir, delete=False, suffix='.tmp') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
        os.replace(f.name, args.out)
    close_distributed()


if __name__ == '__main__':
    main()
