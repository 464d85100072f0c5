"""LUT's training step as this project runs it against the released code's structure.

    python benchmarks/lut_released_structure.py [CONFIG] [--batch-size 8] [--pairs 40]

Both sides build the same config with the same weights-to-be and do the same arithmetic
(FLOPs equal, tested for the passes). Released structure: the two student views and the
two teacher views as four separate encoder passes (``model.batch_views=False``), and after
each step an EMA of every state-dict entry of the whole model (encoder, decoder, projector,
predictor), one tensor at a time as ``m * ema + (1 - m) * x``. Ours: two batched passes, and
an EMA of only what a loss reads (encoder and projector) with one fused ``_foreach_lerp_``.
The two steps alternate; reported are the medians, the paired step ratios (released over
ours), and the EMA updates timed alone.
"""
import argparse
import logging
import os.path as osp
import statistics
import time

import torch
from mmengine.logging import MMLogger

from mim_deepsup.benchmarking.steps import build_step
from mim_deepsup.fileio import REPO_ROOT as ROOT

DEFAULT = osp.join(ROOT, 'configs', 'lut', 'lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py')


def whole_model_ema(model: torch.nn.Module, momentum: float = 0.996):
    """An update function: EMA of every floating state-dict entry outside the teacher."""
    ema = {k: v.clone() for k, v in model.state_dict().items()
           if not k.startswith('teacher.') and v.is_floating_point()}

    @torch.no_grad()
    def update() -> None:
        state = model.state_dict()
        for key, target in ema.items():
            target.copy_(target * momentum + (1.0 - momentum) * state[key])
    return update


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default=DEFAULT)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--pairs', type=int, default=40, help='timed step pairs')
    parser.add_argument('--warmup', type=int, default=2)
    args = parser.parse_args(argv)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    device = torch.device('cpu')
    ours, _, model = build_step(args.config, args.batch_size, device)
    released, _, other = build_step(args.config, args.batch_size, device,
                                    dict(model=dict(batch_views=False)))
    # the released momentum encoder: the whole model, tensor by tensor
    other.update_teacher = whole_model_ema(other)
    ema_ours = statistics.median(timed(model.update_teacher) for _ in range(10))
    ema_released = statistics.median(timed(other.update_teacher) for _ in range(10))
    for _ in range(args.warmup):
        ours(), released()
    pairs = []
    for _ in range(args.pairs):
        pairs.append((timed(released), timed(ours)))
    ratios = sorted(a / b for a, b in pairs)
    quartiles = statistics.quantiles(ratios, n=4)
    print(f'batch {args.batch_size}, {args.pairs} pairs, torch {torch.__version__}, threads '
          f'{torch.get_num_threads()}')
    print(f'released structure: step {statistics.median(a for a, _ in pairs):.3f} s; ours: '
          f'{statistics.median(b for _, b in pairs):.3f} s')
    print(f'paired ratio released / ours: median {statistics.median(ratios):.3f}, quartiles '
          f'{quartiles[0]:.3f}-{quartiles[2]:.3f}, ours faster in '
          f'{sum(r > 1 for r in ratios)} of {len(ratios)}')
    print(f'EMA update alone: released {ema_released * 1e3:.0f} ms, ours {ema_ours * 1e3:.0f} ms')


if __name__ == '__main__':
    main()
