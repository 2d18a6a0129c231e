#!/usr/bin/env bash
# bench-venv.sh: the bench-only Python environment `.venv-bench/` with the PyTorch peer of the
# train-speed benchmark (torch==2.13.0+cpu, numpy) and the peers of the kernels benchmark
# (onnxruntime for MLAS's dense GEMM, scipy for CSR, onnx to write the MatMul model), installed
# best-effort: when pip cannot install them the script still exits 0 for torch and
# `blkrew bench kernels` records those figures as "not measured". Never a dependency of blkrew:
# only `blkrew bench` uses it, and it records the peers' figures as "not measured" when the
# environment is missing. Idempotent: a second run checks the imports and installs nothing.
#
#   scripts/bench-venv.sh            create or complete .venv-bench/ (downloads ~200 MB once)
#   scripts/bench-venv.sh --check    exit 0 when .venv-bench/ is usable, 1 otherwise; no install
#
# The version is pinned on purpose: pip's configured find-links folder holds the CPU build;
# an unpinned `pip install torch` takes PyPI's CUDA build (gigabytes). Exit codes: 0 ready,
# 1 not usable (--check), 69 the pinned version cannot be installed here.
set -euo pipefail

TORCH_PIN="torch==2.13.0+cpu"
TORCH_VERSION="2.13.0+cpu"
# The kernels benchmark's peers (unpinned: whatever wheel pip finds; the benchmark records the
# versions it ran).
KERNEL_PEERS=(onnxruntime scipy onnx)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BLKREW_BENCH_VENV:-$ROOT/.venv-bench}"
PY="$VENV/bin/python"

ready() {
  [ -x "$PY" ] && "$PY" - "$TORCH_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import numpy, torch
sys.exit(0 if torch.__version__ == sys.argv[1] else 1)
EOF
}

peers_ready() {
  [ -x "$PY" ] && "$PY" -c "import onnxruntime, scipy, onnx" >/dev/null 2>&1
}

# Best effort: a failure leaves the kernels benchmark's peers "not measured", never torch.
install_peers() {
  peers_ready && return 0
  echo "bench-venv: installing ${KERNEL_PEERS[*]} into $VENV (kernels benchmark peers)" >&2
  if ! "$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    "${KERNEL_PEERS[@]}" >&2 || ! peers_ready; then
    echo "bench-venv: warning: cannot install ${KERNEL_PEERS[*]}; the kernels benchmark's" \
      "onnxruntime / scipy figures will be recorded as not measured" >&2
  fi
  return 0
}

if [ "${1:-}" = "--check" ]; then
  ready && exit 0
  exit 1
fi

if ready; then
  install_peers
  echo "bench-venv: $VENV ready ($TORCH_PIN)" >&2
  exit 0
fi

if ! command -v python3 >/dev/null; then
  echo "bench-venv: error: python3 is not on PATH; the PyTorch figures will be not measured" >&2
  exit 69
fi
if [ ! -x "$PY" ]; then
  echo "bench-venv: creating $VENV" >&2
  if ! python3 -m venv "$VENV" >&2; then
    rm -rf "$VENV"
    echo "bench-venv: error: python3 -m venv failed (apt-get install -y python3-venv?);" \
      "the PyTorch figures will be not measured" >&2
    exit 69
  fi
fi
echo "bench-venv: installing $TORCH_PIN and numpy into $VENV" >&2
# --only-binary: never build torch or numpy from source; pip's configured find-links folder
# (pip config list) is where the +cpu wheel is.
if ! "$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
  "$TORCH_PIN" numpy >&2; then
  echo "bench-venv: error: cannot install $TORCH_PIN here (pip found no such wheel in its" \
    "find-links or index); the PyTorch figures will be recorded as not measured" >&2
  exit 69
fi
if ! ready; then
  echo "bench-venv: error: $VENV has no working $TORCH_PIN + numpy after installing;" \
    "the PyTorch figures will be recorded as not measured" >&2
  exit 69
fi
install_peers
echo "bench-venv: $VENV ready ($TORCH_PIN)" >&2
