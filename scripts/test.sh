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
host cargo fmt --all --check
host cargo clippy --quiet --workspace --all-targets -- -D warnings
# The argon2id crate's SIMD kernel only compiles for wasm32: lint it there too (with the Worker's
# target features from bootstrap.sh). On the Debian route there is no clippy for wasm32; the
# kernel is still compiled there by the wasm build and tests/argon2-simd.spec.ts.
if [ "$ROUTE" = rustup ]; then
  cargo clippy --quiet --target wasm32-unknown-unknown -p edge-argon2id --lib --examples -- -D warnings
fi

echo "== host unit tests (cargo test)" >&2
host cargo test --quiet --workspace 2>&1 | tee "$LOG_DIR/cargo.log"

echo "== wasm build" >&2
bash "$ROOT/scripts/build.sh"

echo "== HTTP and browser tests under Miniflare (vitest)" >&2
ensure_chromium
status=0
rm -f "$LOG_DIR"/vitest*.json
npx vitest run --reporter=default --reporter=json --outputFile="$LOG_DIR/vitest.json" "$@" || status=$?

# The JWT, token and rotation specs again with each asymmetric ALGORITHM (tests/helpers.ts reads
# TEST_ALGORITHM); only on a full run, not when arguments pick the specs.
if [ "$#" -eq 0 ]; then
  for alg in ES256 EdDSA; do
    echo "== JWT specs again with ALGORITHM=$alg (vitest)" >&2
    TEST_ALGORITHM="$alg" npx vitest run --reporter=default --reporter=json \
      --outputFile="$LOG_DIR/vitest-$alg.json" \
      tests/jwt.spec.ts tests/token.spec.ts tests/refresh-rotation.spec.ts || status=$?
  done
fi

node -e '
  const fs = require("fs");
  const [cargoLog, ...runs] = process.argv.slice(1);
  const cargo = fs.readFileSync(cargoLog, "utf8");
  let passed = 0, failed = 0, skipped = 0;
  for (const m of cargo.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += +m[1]; failed += +m[2];
  }
  for (const run of runs) {
    if (!fs.existsSync(run)) { failed += 1; console.log(`missing ${run}`); continue; }
    const v = JSON.parse(fs.readFileSync(run, "utf8"));
    passed += v.numPassedTests; failed += v.numFailedTests;
    skipped += v.numPendingTests + (v.numTodoTests ?? 0);
  }
  const note = skipped ? `, ${skipped} skipped (tests of one algorithm only)` : "";
  console.log(`summary: ${passed} passed, ${failed} failed${note}`);
' "$LOG_DIR/cargo.log" "$LOG_DIR/vitest.json" \
  $( [ "$#" -eq 0 ] && echo "$LOG_DIR/vitest-ES256.json $LOG_DIR/vitest-EdDSA.json" )
exit "$status"
