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
  dataset-fashion-mnist                # /usr/share/datasets/fashion-mnist
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

if ! command -v swift >/dev/null; then
  echo "setup: error: the Swift toolchain (6.0 or later) is not on PATH" >&2
  exit 69
fi
