#!/usr/bin/env bash
# From a pretraining config to an ADE20K-style segmentation result, in four steps:
#   1. pretrain        tools/train.py PRETRAIN_CONFIG          -> WORK_DIR/pretrain/
#   2. convert         tools/convert_checkpoint.py --target mmseg -> WORK_DIR/backbone_mmseg.pth
#   3. fine-tune       tools/train.py SEG_CONFIG (UperNet)     -> WORK_DIR/seg/
#   4. evaluate        tools/test.py SEG_CONFIG last checkpoint -> WORK_DIR/seg/metrics.json
#
#   bash tools/pretrain_to_seg.sh PRETRAIN_CONFIG SEG_CONFIG WORK_DIR
#
# The tiny CPU path (a few minutes on 2 cores, on data/demo from tools/make_demo_data.py):
#   bash tools/pretrain_to_seg.sh configs/lut/lut_vit-tiny-p4_1xb32-20e_demo.py \
#       configs/lut/benchmarks/lut_upernet_vit-tiny-p4_1xb8-100i_demo-ade-64x64.py work_dirs/lut_to_seg
# Environment: GPUS (default 1; more runs tools/dist_train.sh), PYTHON (default: the
# repository's .venv if present), PRETRAIN_OPTS / SEG_OPTS (extra `--cfg-options` of each
# run, space-separated key=value), TEACHER=1 (convert the EMA teacher, not the student).
set -euo pipefail
if [ $# -ne 3 ]; then
    sed -n '2,17p' "$0" >&2
    exit 2
fi
PRETRAIN_CONFIG=$1
SEG_CONFIG=$2
WORK_DIR=$3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
export PYTHON
GPUS=${GPUS:-1}
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "pretrain_to_seg: GPUS must be a positive integer, got '$GPUS'" >&2
    exit 2
fi

train() {  # CONFIG WORK_DIR OPTS
    local opts=()
    if [ -n "$3" ]; then read -r -a opts <<< "$3"; opts=(--cfg-options "${opts[@]}"); fi
    if [ "$GPUS" -gt 1 ]; then
        bash "$ROOT/tools/dist_train.sh" "$1" "$GPUS" --work-dir "$2" "${opts[@]}"
    else
        "$PYTHON" "$ROOT/tools/train.py" "$1" --work-dir "$2" "${opts[@]}"
    fi
}

last_checkpoint() {  # WORK_DIR: the path mmengine recorded after the last save
    if [ ! -f "$1/last_checkpoint" ]; then
        echo "pretrain_to_seg: $1 has no last_checkpoint: the run saved no checkpoint" >&2
        exit 1
    fi
    cat "$1/last_checkpoint"
}

echo "== 1/4 pretrain: $PRETRAIN_CONFIG"
train "$PRETRAIN_CONFIG" "$WORK_DIR/pretrain" "${PRETRAIN_OPTS:-}"
PRETRAINED_CKPT=$(last_checkpoint "$WORK_DIR/pretrain")

echo "== 2/4 convert: $PRETRAINED_CKPT"
teacher=()
if [ "${TEACHER:-0}" = 1 ]; then teacher=(--teacher); fi
"$PYTHON" "$ROOT/tools/convert_checkpoint.py" "$PRETRAINED_CKPT" \
    "$WORK_DIR/backbone_mmseg.pth" --target mmseg "${teacher[@]}"

echo "== 3/4 fine-tune: $SEG_CONFIG"
export PRETRAINED="$WORK_DIR/backbone_mmseg.pth"  # the seg config's model.pretrained
train "$SEG_CONFIG" "$WORK_DIR/seg" "${SEG_OPTS:-}"
SEG_CKPT=$(last_checkpoint "$WORK_DIR/seg")

echo "== 4/4 evaluate: $SEG_CKPT"
seg_opts=()
if [ -n "${SEG_OPTS:-}" ]; then read -r -a seg_opts <<< "$SEG_OPTS"; seg_opts=(--cfg-options "${seg_opts[@]}"); fi
"$PYTHON" "$ROOT/tools/test.py" "$SEG_CONFIG" \
    "$SEG_CKPT" --work-dir "$WORK_DIR/seg" --out "$WORK_DIR/seg/metrics.json" "${seg_opts[@]}"
"$PYTHON" - "$WORK_DIR/seg/metrics.json" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))
print('segmentation result: ' + ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()))
print(f'metrics: {sys.argv[1]}')
PY
