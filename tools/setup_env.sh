#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv.
#
# Both README commands call this first. On a fresh machine it:
#   1. creates .venv and installs torch + torchvision (TORCH_SPEC, default the releases
#      that lie on this machine's disk);
#   2. makes a compiled mmcv (with mmcv.ops, < 2.2 for mmsegmentation) available: a cached
#      wheel is reused; otherwise mmcv's PyPI source is built with the fixes torch >= 2.6
#      needs (C++20, a setuptools that still ships pkg_resources), with CPU ops only and a
#      precompiled torch header, and the wheel is cached in MIM_DEEPSUP_CACHE (default
#      ~/.cache/mim-deepsup) for the next set-up;
#   3. installs this package editable with its dev extras, and openmim (`mim train`).
# A stamp file records what was installed, so a second call returns in about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MIM_DEEPSUP_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
MMCV_VERSION="${MMCV_VERSION:-2.1.0}"
CACHE="${MIM_DEEPSUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mim-deepsup}"

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

stamp_key() {
  cat "$ROOT/pyproject.toml" "$ROOT/tools/setup_env.sh"
  echo "$TORCH_SPEC $MMCV_VERSION"
}
STAMP="$VENV/.mim-deepsup-setup"
if [ -f "$STAMP" ] && [ "$(stamp_key | sha256sum)" = "$(cat "$STAMP")" ]; then
  exit 0
fi

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV" || die "could not create a virtual environment with $PY"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# mmcv 2.1's setup.py imports pkg_resources, which setuptools 81 removed.
"${PIP[@]}" install -q --upgrade pip 'setuptools>=77,<81' wheel ninja \
  || die "could not install pip/setuptools/wheel/ninja into $VENV"

log "installing $TORCH_SPEC"
# shellcheck disable=SC2086
"${PIP[@]}" install -q $TORCH_SPEC || die "could not install $TORCH_SPEC"

have_mmcv_ops() {
  "$VPY" - <<'PY' 2>/dev/null
import mmcv, mmcv.ops  # noqa: F401  (compiled ops are what mmsegmentation needs)
from packaging.version import Version
raise SystemExit(0 if Version(mmcv.__version__) < Version('2.2.0') else 1)
PY
}

build_mmcv() {
  # $1: directory to put the wheel in
  local out="$1" src log_file tree pch cflags
  src="$(mktemp -d)"
  log_file="$out/build.log"
  log "building mmcv $MMCV_VERSION with CPU ops from source (about 3 minutes on 2 cores)"
  log "build log: $log_file"
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
    "mmcv==$MMCV_VERSION" -d "$src" || die "could not download mmcv $MMCV_VERSION's source"
  tar -xzf "$src"/mmcv-"$MMCV_VERSION".tar.gz -C "$src"
  tree="$src/mmcv-$MMCV_VERSION"
  # torch >= 2.6's headers need C++20; mmcv hard-codes -std=c++14/17.
  sed -i -E "s/(std[=:])c\+\+1[47]/\1c++20/g" "$tree/setup.py"
  grep -q 'c++20' "$tree/setup.py" || die "patching mmcv's setup.py for C++20 failed"
  # CPU ops only, also where CUDA or ROCm is present: no path of this project runs an
  # mmcv op (tests/test_mmcv_ops.py checks), mmsegmentation only imports them.
  sed -i -E "s/elif is_rocm_pytorch or torch\.cuda\.is_available\(\) or os\.getenv\(/elif False and os.getenv(/" \
    "$tree/setup.py"
  grep -q 'elif False and os.getenv(' "$tree/setup.py" \
    || die "patching mmcv's setup.py for a CPU-only build failed"
  # Every op file starts by parsing torch/types.h (about 9 of its 12 s on this machine):
  # parse it once into a precompiled header, and leave out debug information. If the
  # compiler finds the header unusable it parses torch/types.h as before (slower, same code).
  pch="$tree/mim_deepsup_pch"
  mkdir -p "$pch"
  printf '#include <torch/types.h>\n#include <functional>\n#include <map>\n#include <vector>\n' \
    >"$pch/torch_types.h"
  # Python's compile flags (-O3 -DNDEBUG ...): setuptools replaces them by $CFLAGS if set
  cflags=$("$VPY" -c "import sysconfig; print(sysconfig.get_config_var('CFLAGS'))")
  "$VPY" - "$pch/torch_types.h" <<'PY' || die "could not precompile torch/types.h for mmcv's build"
import subprocess, sys, sysconfig
from torch.utils.cpp_extension import include_paths
flags = (sysconfig.get_config_var('CFLAGS') + ' ' + sysconfig.get_config_var('CCSHARED')).split()
includes = ['-I' + p for p in include_paths() + [sysconfig.get_paths()['include']]]
header = sys.argv[1]
subprocess.run(['c++', *flags, *includes, '-g0', '-std=c++20', '-DTORCH_API_INCLUDE_EXTENSION_H',
                '-DTORCH_EXTENSION_NAME=_ext', '-x', 'c++-header', header, '-o', header + '.gch'],
               check=True)
PY
  (
    cd "$tree"
    env -u FORCE_CUDA -u FORCE_MLU -u FORCE_MPS -u FORCE_NPU -u MMCV_WITH_DIOPI \
      CFLAGS="$cflags -g0 -Winvalid-pch -include $pch/torch_types.h" \
      MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" wheel -v --no-deps \
      --no-build-isolation . -w "$out/tmp" >"$log_file" 2>&1
  ) &
  local pid=$! t0 done_
  t0=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    # ninja numbers its compile steps [N/TOTAL]
    done_=$(grep -oE '\[[0-9]+/[0-9]+\]' "$log_file" 2>/dev/null | tail -n 1 || true)
    log "mmcv build: $(( ($(date +%s) - t0) / 60 )) min, compiled ${done_:-[0/?]}"
  done
  if ! wait "$pid"; then
    tail -n 30 "$log_file" >&2
    die "building mmcv failed; full log: $log_file"
  fi
  grep -q 'Compiling mmcv._ext only with CPU' "$log_file" \
    || die "mmcv's build did not take its CPU-only path; log: $log_file"
  if grep -q 'not used because' "$log_file"; then
    log "the precompiled header went unused (see 'not used because' in $log_file)"
  fi
  grep -qE -- '-O3.* -g0 ' "$log_file" || die "mmcv's ops were not compiled with -O3; log: $log_file"
  log "mmcv built in $(( $(date +%s) - t0 )) s"
  mv "$out"/tmp/mmcv-*.whl "$out"/ && rmdir "$out/tmp"
  rm -rf "$src"
}

if have_mmcv_ops; then
  log "mmcv with ops already installed"
else
  tag=$("$VPY" -c 'import sys, torch, platform; v = torch.__version__.split("+")[0]; print("torch%s-cp%d%d-%s" % (v, sys.version_info[0], sys.version_info[1], platform.machine()))')
  wheel_dir="$CACHE/wheels/mmcv-$MMCV_VERSION-cpuops-$tag"
  mkdir -p "$wheel_dir"
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    build_mmcv "$wheel_dir"
  else
    log "using cached mmcv wheel from $wheel_dir"
  fi
  "${PIP[@]}" install -q "$wheel_dir"/mmcv-*.whl || die "could not install the mmcv wheel in $wheel_dir"
  have_mmcv_ops || die "mmcv installed but 'import mmcv.ops' fails; remove $wheel_dir to rebuild"
fi

log "installing mim-deepsup (editable, with dev extras)"
"${PIP[@]}" install -q -e "$ROOT[dev]" >"$VENV/install.log" 2>&1 \
  || { tail -n 30 "$VENV/install.log" >&2; false; } || die "could not install mim-deepsup into $VENV"
# openmim without its dependencies: its openxlab pins setuptools 60, too old to build this
# package; what `mim train` and `mim run` import comes with the dev extras
"${PIP[@]}" install -q --no-deps 'openmim==0.3.9' >>"$VENV/install.log" 2>&1 \
  || die "could not install openmim into $VENV (log: $VENV/install.log)"

stamp_key | sha256sum >"$STAMP"
log "environment ready in $(( $(date +%s) - start )) s: $VENV"
