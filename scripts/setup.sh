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
  libxnnpack-dev libpthreadpool-dev    # XNNPACK SpMM peer (kernels_xnnpack.c; xnnpack.h includes pthreadpool.h)
  dataset-fashion-mnist                # /usr/share/datasets/fashion-mnist
  bible-kjv unzip                      # the KJV character corpus (`bible`); the aeon wheel
)

# The aarch64 kernel target (optional): the cross compiler and its libc headers (the Recommends
# that --no-install-recommends skips), qemu-user to run its binaries, and
# PAPI / json-c for arm64 from Debian multiarch (the runner links them). A failure here only warns:
# `blkrew targets` then says what is missing, and the aarch64 tests skip with that reason.
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
ARM64_PACKAGES=(libpapi-dev:arm64 libjson-c-dev:arm64)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
missing_cross=()
for p in "${CROSS_PACKAGES[@]}"; do installed "$p" || missing_cross+=("$p"); done
missing_arm64=()
for p in "${ARM64_PACKAGES[@]}"; do installed "$p" || missing_arm64+=("$p"); done

if [ $((${#missing[@]} + ${#missing_cross[@]} + ${#missing_arm64[@]})) -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; elif [ ${#missing[@]} -gt 0 ]; then
      echo "setup: error: need root to run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
      exit 69
    else
      echo "setup: warning: need root to install ${missing_cross[*]} ${missing_arm64[*]}; the aarch64 target stays unavailable" >&2
      missing_cross=()
      missing_arm64=()
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  # arm64 packages need the architecture added before the one `apt-get update`.
  if [ ${#missing_arm64[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    if ! $SUDO dpkg --add-architecture arm64; then
      echo "setup: warning: dpkg --add-architecture arm64 failed; not installing ${missing_arm64[*]}" >&2
      missing_arm64=()
    fi
  fi
fi

if [ $((${#missing[@]} + ${#missing_cross[@]} + ${#missing_arm64[@]})) -gt 0 ]; then
  echo "setup: installing ${missing[*]} ${missing_cross[*]} ${missing_arm64[*]}" >&2
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
  elif ! $SUDO apt-get update -qq; then
    echo "setup: warning: apt-get update failed" >&2
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ${#missing_cross[@]} -gt 0 ] &&
    ! $SUDO apt-get install -y -qq --no-install-recommends "${missing_cross[@]}" >/dev/null; then
    echo "setup: warning: could not install ${missing_cross[*]}; the aarch64 target stays unavailable" >&2
  fi
  if [ ${#missing_arm64[@]} -gt 0 ] &&
    ! $SUDO apt-get install -y -qq --no-install-recommends "${missing_arm64[@]}" >/dev/null; then
    echo "setup: warning: could not install ${missing_arm64[*]}; the aarch64 target stays unavailable" >&2
  fi
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
