#!/usr/bin/env bash
# Builds the Worker into build/ (skipped when nothing it is made from changed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
OUT="build/index_bg.wasm"
# wasm's 128-bit SIMD and relaxed SIMD (V8 has shipped both since 2023): the argon2id module's
# compression function runs on them (src/tokens/argon2id). Only the wasm target gets the flag, so host builds and their
# cache are untouched; an explicit RUSTFLAGS would take precedence over it, so it is added to one.
SIMD="-C target-feature=+simd128,+relaxed-simd"
if [ -n "${RUSTFLAGS:-}" ]; then
  case " $RUSTFLAGS " in *"+simd128"*) ;; *) export RUSTFLAGS="$RUSTFLAGS $SIMD" ;; esac
else
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$SIMD"
fi
if [ -f "$OUT" ] && [ -z "$(find src data openapi Cargo.toml Cargo.lock scripts/build.sh -newer "$OUT" -print -quit 2>/dev/null)" ]; then
  echo "[build] build/ is up to date" >&2
  exit 0
fi
echo "[build] worker-build --release --no-opt" >&2
worker-build --release --no-opt >&2
touch "$OUT"
ls -l build/index_bg.wasm | awk '{print "[build] wasm bytes: " $5}' >&2
