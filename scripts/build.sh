#!/usr/bin/env bash
# Builds the Worker into build/ (skipped when nothing it is made from changed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
OUT="build/index_bg.wasm"
if [ -f "$OUT" ] && [ -z "$(find src data openapi Cargo.toml Cargo.lock scripts/build.sh scripts/bootstrap.sh -newer "$OUT" -print -quit 2>/dev/null)" ]; then
  echo "[build] build/ is up to date" >&2
  exit 0
fi
echo "[build] worker-build --release --no-opt" >&2
worker-build --release --no-opt >&2
touch "$OUT"
ls -l build/index_bg.wasm | awk '{print "[build] wasm bytes: " $5}' >&2
