"""The main job: every method pretrained on equal terms over several seeds, evaluated on
frozen features and in a UperNet, and the papers' claims judged against the spread.

    python tools/main_job.py [--quick] [--data DIR [--seg-data DIR]] [--methods ...]
        [--seeds 3] [--epochs N] [--seg-iters N] [--jobs 2] [--force] [--verbose]

The report goes to work_dirs/main_job/report.md (docs/main_job.md says how to read it).
"""
from mim_deepsup.main_job import main

if __name__ == '__main__':
    main()
