#!/usr/bin/env bash
# The main job: set up .venv if needed, write the demo data if missing, then pretrain a tiny
# ViT with MAE, DeepMIM, DDAE and LUT, evaluate each (k-NN, analyses, a tiny UperNet) and
# print one table (tools/main_job.py; its arguments follow demo.sh, e.g. --epochs 40).
# CONFIG=configs/... bash tools/demo.sh [train.py args] trains that one config instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
.venv/bin/python tools/make_demo_data.py --root data/demo
if [ -n "${CONFIG:-}" ]; then
    exec .venv/bin/python tools/train.py "$CONFIG" "$@"
fi
exec .venv/bin/python tools/main_job.py "$@"
