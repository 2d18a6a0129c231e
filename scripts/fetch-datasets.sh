#!/usr/bin/env bash
# blkrew: puts the data sets that are not Debian packages into the data directory
# (${BLKREW_DATA:-$HOME/.cache/blkrew/data}, or the first argument), checking their SHA-256:
#   JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts  from the PyPI wheel aeon==1.6.0
#   KJV/kjv.txt                                    `bible -f Gen1:1-Rev22:21` (Debian's bible-kjv)
# Idempotent: files already there with the right checksum are left alone (no network, no work).
# Exit codes: 0 done, 1 a checksum or download failed, 69 a required tool or package is missing.
set -euo pipefail

DATA="${1:-${BLKREW_DATA:-$HOME/.cache/blkrew/data}}"

AEON_VERSION=1.6.0
JV_TRAIN_SHA=68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd
JV_TEST_SHA=b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462
# sha256 of `bible -f Gen1:1-Rev22:21` from bible-kjv 4.38 / bible-kjv-text (Debian 12).
KJV_SHA=cd45f0c9cedab8e4439bd6486c8952c77cc8b0ecc5d1f6ae3513f2039f47229d

say() { echo "fetch-datasets: $*" >&2; }
die() { say "error: $1"; exit "${2:-1}"; }

command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)" 69

# has_sha FILE SHA: the file exists and has that checksum.
has_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

# --- JapaneseVowels ---------------------------------------------------------------------------
JV="$DATA/JapaneseVowels"
if has_sha "$JV/JapaneseVowels_TRAIN.ts" "$JV_TRAIN_SHA" &&
  has_sha "$JV/JapaneseVowels_TEST.ts" "$JV_TEST_SHA"; then
  say "JapaneseVowels: present and verified in $JV"
else
  if command -v pip >/dev/null; then PIP=(pip)
  elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    PIP=(python3 -m pip)
  else die "pip not found: install python3-pip (or pip) to download aeon==$AEON_VERSION" 69; fi
  TMP="$(mktemp -d)"
  say "JapaneseVowels: downloading the aeon==$AEON_VERSION wheel"
  "${PIP[@]}" download --quiet --no-deps --only-binary=:all: "aeon==$AEON_VERSION" -d "$TMP" >&2 ||
    die "pip download aeon==$AEON_VERSION failed"
  WHEEL="$(ls "$TMP"/aeon-"$AEON_VERSION"-*.whl 2>/dev/null | head -n 1)"
  [ -n "$WHEEL" ] || die "pip download left no aeon-$AEON_VERSION wheel in $TMP"
  MEMBERS=(aeon/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts
    aeon/datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts)
  mkdir -p "$TMP/out"
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$WHEEL" "${MEMBERS[@]}" -d "$TMP/out" || die "unzip of $WHEEL failed"
  elif command -v python3 >/dev/null; then
    python3 - "$WHEEL" "$TMP/out" "${MEMBERS[@]}" <<'PY' || die "extracting from $WHEEL failed"
import os, sys, zipfile
wheel, out, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for m in members:
        with open(os.path.join(out, os.path.basename(m)), "wb") as f:
            f.write(z.read(m))
PY
  else die "neither unzip nor python3 found to open the wheel" 69; fi
  has_sha "$TMP/out/JapaneseVowels_TRAIN.ts" "$JV_TRAIN_SHA" ||
    die "JapaneseVowels_TRAIN.ts from aeon==$AEON_VERSION has sha256 $(sha256sum "$TMP/out/JapaneseVowels_TRAIN.ts" | cut -d' ' -f1), expected $JV_TRAIN_SHA"
  has_sha "$TMP/out/JapaneseVowels_TEST.ts" "$JV_TEST_SHA" ||
    die "JapaneseVowels_TEST.ts from aeon==$AEON_VERSION has sha256 $(sha256sum "$TMP/out/JapaneseVowels_TEST.ts" | cut -d' ' -f1), expected $JV_TEST_SHA"
  mkdir -p "$JV"
  for f in JapaneseVowels_TRAIN.ts JapaneseVowels_TEST.ts; do
    cp "$TMP/out/$f" "$JV/$f.tmp" && mv -f "$JV/$f.tmp" "$JV/$f"
  done
  say "JapaneseVowels: wrote and verified $JV"
fi

# --- King James Bible (character-level language model) -------------------------------------
KJV="$DATA/KJV/kjv.txt"
if has_sha "$KJV" "$KJV_SHA"; then
  say "KJV: present and verified at $KJV"
else
  if ! command -v bible >/dev/null; then
    die "the 'bible' program is missing; install it with:
  apt-get install -y --no-install-recommends bible-kjv" 69
  fi
  mkdir -p "$DATA/KJV"
  bible -f Gen1:1-Rev22:21 >"$KJV.tmp" || { rm -f "$KJV.tmp"; die "bible -f Gen1:1-Rev22:21 failed"; }
  if ! has_sha "$KJV.tmp" "$KJV_SHA"; then
    got="$(sha256sum "$KJV.tmp" | cut -d' ' -f1)"
    rm -f "$KJV.tmp"
    die "bible -f Gen1:1-Rev22:21 gave sha256 $got, expected $KJV_SHA (another bible-kjv version?)"
  fi
  mv -f "$KJV.tmp" "$KJV"
  say "KJV: wrote and verified $KJV"
fi
