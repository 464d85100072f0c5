#!/usr/bin/env bash
# The main job: set up .venv if needed, write the demo data if missing, and pretrain the tiny
# ViT with DDAE on the CPU (CONFIG=... selects another config). Extra arguments go to
# tools/train.py (e.g. --cfg-options ...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
CONFIG=${CONFIG:-configs/ddae/ddae_vit-tiny-p4_1xb32-20e_demo.py}
.venv/bin/python tools/make_demo_data.py --root data/demo
exec .venv/bin/python tools/train.py "$CONFIG" "$@"
