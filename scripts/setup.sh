#!/usr/bin/env bash
# blkrew setup: installs the Debian packages blkrew needs, only those missing. Idempotent:
# a second run installs nothing and takes well under a second. Called by `make setup`, which
# `make demo` and `make test` run first.
set -euo pipefail

PACKAGES=(
  pkg-config gcc make
  libopenblas-dev zlib1g-dev          # training engine (BLAS), IDX .gz reading
  libpapi-dev libjson-c-dev papi-tools # the C kernel runner: counters, SDE, JSON output
  valgrind                             # deterministic (simulated) kernel cost: cachegrind
  gnuplot-nox                          # report plots (svg terminal; no X11)
  dataset-fashion-mnist                # /usr/share/datasets/fashion-mnist
  bible-kjv unzip                      # the KJV character corpus (`bible`); the aeon wheel
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "setup: error: need root to run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
      exit 69
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Data sets that are not Debian packages (JapaneseVowels from the aeon wheel, the KJV text dump),
# checked by sha256; does nothing when they are there.
"$(dirname "$0")/fetch-datasets.sh"

# Test oracles, not dependencies: Python's safetensors (and numpy) read and write checkpoints in
# the interop tests. Installed for the user's python3 when missing; a failure only skips those tests.
if command -v python3 >/dev/null && ! python3 -c "import safetensors, numpy" 2>/dev/null; then
  echo "setup: installing python packages safetensors numpy (test oracles)" >&2
  python3 -m pip install --quiet --disable-pip-version-check safetensors numpy >/dev/null 2>&1 \
    || echo "setup: warning: could not install safetensors/numpy; the interop tests will be skipped" >&2
fi

if ! command -v swift >/dev/null; then
  echo "setup: error: the Swift toolchain (6.0 or later) is not on PATH" >&2
  exit 69
fi
