#!/usr/bin/env bash
# The test suite: set up .venv if needed, then run pytest (extra arguments go to pytest).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python -m pytest "$@"
