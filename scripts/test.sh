#!/usr/bin/env bash
# Runs every test: format and lint checks, host unit tests (cargo test), the wasm build, then the
# HTTP tests under Miniflare (headless Chromium included, installed when missing); ends with one
# summary line counting both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
LOG_DIR="$ROOT/.cache/test-logs"
mkdir -p "$LOG_DIR"

# Host checks use the host toolchain even on the Debian wasm route.
host() {
  (unset RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD CARGO_TARGET_DIR
   PATH="$HOME/.cargo/bin:$PATH" "$@")
}

echo "== format and lints (cargo fmt --check, cargo clippy)" >&2
host cargo fmt --check
host cargo clippy --quiet --all-targets -- -D warnings

echo "== host unit tests (cargo test)" >&2
host cargo test --quiet 2>&1 | tee "$LOG_DIR/cargo.log"

echo "== wasm build" >&2
bash "$ROOT/scripts/build.sh"

echo "== HTTP and browser tests under Miniflare (vitest)" >&2
ensure_chromium
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$LOG_DIR/vitest.json" "$@" || status=$?

node -e '
  const fs = require("fs");
  const cargo = fs.readFileSync(process.argv[1], "utf8");
  let passed = 0, failed = 0;
  for (const m of cargo.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += +m[1]; failed += +m[2];
  }
  const v = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  passed += v.numPassedTests; failed += v.numFailedTests;
  console.log(`summary: ${passed} passed, ${failed} failed`);
' "$LOG_DIR/cargo.log" "$LOG_DIR/vitest.json"
exit "$status"
