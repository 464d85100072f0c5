"""``python -m mim_deepsup.benchmarking``: the same as ``python tools/benchmark.py``."""
from .cli import main

main()
