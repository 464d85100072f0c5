"""Time DDAE's per-step weighting work: distance maps and dynamic weights.

    python benchmarks/ddae_weights.py [--batch-size 8] [--grid 14] [--reps 200]

One DDAE step on MAE computes two distance maps (the final head's loss and the
intermediate decoders' shared one) and one set of weights per supervised output (three
for ViT-B: blocks 4, 8 and the final decoder). This times exactly that on random 75% masks,
and the distance map alone, on the CPU with torch's current thread count.
"""
import argparse
import statistics
import time

import torch

from mim_deepsup.methods.ddae import distance_weights, patch_distances


def median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--grid', type=int, default=14, help='patches per side')
    parser.add_argument('--reps', type=int, default=200)
    args = parser.parse_args(argv)
    patches = args.grid**2
    mask = (torch.rand(args.batch_size, patches) < 0.75).float()
    grid = (args.grid, args.grid)

    def step():
        distances = [patch_distances(mask, grid) for _ in range(2)]
        for g in (0.3, -0.3, -1.0):
            distance_weights(distances[0], mask, g)

    step()  # builds the cached grid table
    print(f'batch {args.batch_size}, {args.grid} x {args.grid} patches, threads '
          f'{torch.get_num_threads()}')
    print(f'distance map: {median_ms(lambda: patch_distances(mask, grid), args.reps):.3f} ms')
    print(f'one DDAE step (2 maps, 3 weightings): {median_ms(step, args.reps):.3f} ms')


if __name__ == '__main__':
    main()
