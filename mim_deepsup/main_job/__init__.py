"""The main job: MAE, DeepMIM, DDAE and LUT on equal terms, with the papers' claims
judged against the spread over seeds (``tools/main_job.py``, ``docs/main_job.md``)."""
from .job import main

__all__ = ['main']
