"""The benchmark harness behind ``tools/benchmark.py``: a config's training step timed on
random batches (:mod:`.steps`), the comparison tables (:mod:`.table`), the command line
(:mod:`.cli`), and the CPU-only tuning the tools apply (:mod:`.cpu_tuning`).

The models never import it; :class:`~mim_deepsup.engine.BF16OptimWrapper` uses
:mod:`.cpu_tuning`'s attention swap on the CPU only.
"""
