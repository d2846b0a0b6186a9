#!/usr/bin/env bash
# `npm run bench`: builds what the benchmark needs (the Worker, the bare hello-world Worker in
# bench/bare, the native argon2 timer in bench/argon2-native), then runs bench/run.mjs, which
# serves the service, the bare Worker and the real djoser (from bench/djoser/, whose run.sh makes
# its own virtualenv on first use) on 127.0.0.1, loads them in interleaved rounds and prints one
# markdown table (also written to bench/out/latest.md).
# Then bench/algorithms.mjs prints what each ALGORITHM (HS256, ES256, EdDSA) costs on jwt/verify,
# users/me and jwt/refresh, and bench/argon2-kernel.mjs the argon2id hash alone inside workerd
# against the same hash natively, with its budget line (both appended to bench/out/latest.md).
# bench/run.mjs also runs better-auth (bench/better-auth, bundled by bench/peer.mjs on first use)
# in the same rounds, and fails if it cannot.
# With BENCH_SCALE=1, bench/scale.mjs last: the same endpoints on a database of a million rows a
# table against an empty one, and the purge of a million expired rows (appended too).
# Knobs: BENCH_DURATION (s per run, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (10), BENCH_DJOSER=off
# (the bench fails when djoser cannot run unless this says to skip it), BENCH_BETTER_AUTH=off (the
# same for better-auth), BENCH_ALGORITHMS=off, BENCH_SCALE=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

say() { echo "[bench] $*" >&2; }

# ---- the service ------------------------------------------------------------------------
bash "$ROOT/scripts/build.sh"

# ---- the bare Worker: same worker-build, wasm-bindgen and release profile -----------------
BARE="$ROOT/bench/bare"
BARE_OUT="$BARE/build/index_bg.wasm"
if [ -f "$BARE_OUT" ] && [ -z "$(find "$BARE/src" "$BARE/Cargo.toml" "$BARE/Cargo.lock" -newer "$BARE_OUT" -print -quit)" ]; then
  say "bench/bare/build is up to date"
else
  say "building the bare Worker (worker-build --release --no-opt; about 45 s the first time)"
  (cd "$BARE" && CARGO_TARGET_DIR="$BARE/target" worker-build --release --no-opt >&2)
  touch "$BARE_OUT"
fi

# ---- argon2id natively: host toolchain even on the Debian wasm route -----------------------
say "building bench/argon2-native (opt-level 3 and \"s\")"
bash "$ROOT/scripts/build-native-argon2.sh"

# ---- run ----------------------------------------------------------------------------------
# bench/run.mjs stops every server it starts; as a backstop it runs in its own process group
# (with the workerd and gunicorn processes it spawns), which is stopped when this script exits.
BENCH_PID=""
BENCH_GROUP=""
stop_group() {
  # The group outlives its leader if a child was left behind: test the group, not the pid.
  if [ -n "$BENCH_GROUP" ] && kill -0 -- "-$BENCH_GROUP" 2>/dev/null; then
    kill -TERM -- "-$BENCH_GROUP" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 -- "-$BENCH_GROUP" 2>/dev/null || return 0
      sleep 0.5
    done
    kill -KILL -- "-$BENCH_GROUP" 2>/dev/null || true
  elif [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
  fi
}
trap stop_group EXIT
trap 'exit 130' INT TERM

if command -v setsid >/dev/null; then
  setsid node "$ROOT/bench/run.mjs" &
  BENCH_PID=$!
  BENCH_GROUP=$BENCH_PID
else
  node "$ROOT/bench/run.mjs" &
  BENCH_PID=$!
fi
set +e
wait "$BENCH_PID"
STATUS=$?
set -e
[ "$STATUS" -eq 0 ] || exit "$STATUS"

if [ "${BENCH_ALGORITHMS:-on}" != "off" ]; then
  say "what each ALGORITHM costs per request (bench/algorithms.mjs)"
  mkdir -p "$ROOT/bench/out"
  { echo; echo "### Per algorithm"; echo; node "$ROOT/bench/algorithms.mjs"; } | tee -a "$ROOT/bench/out/latest.md"
fi

say "argon2id, the hash alone, inside workerd and natively (bench/argon2-kernel.mjs)"
mkdir -p "$ROOT/bench/out"
{ echo; echo "### argon2id, the hash alone"; echo; node "$ROOT/bench/argon2-kernel.mjs"; } | tee -a "$ROOT/bench/out/latest.md"

if [ "${BENCH_SCALE:-0}" = 1 ]; then
  say "scale: a million rows a table against an empty database (bench/scale.mjs)"
  mkdir -p "$ROOT/bench/out"
  { echo; echo "### At scale"; echo; node "$ROOT/bench/scale.mjs"; } | tee -a "$ROOT/bench/out/latest.md"
fi
