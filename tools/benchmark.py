"""Measure the training step (forward + backward + optimizer) of a config's model.

The harness is :mod:`mim_deepsup.benchmarking` (``python tools/benchmark.py --help``;
docs/performance.md says what it measures and how).
"""
from mim_deepsup.benchmarking.cli import main

if __name__ == '__main__':
    main()
