#!/usr/bin/env bash
# Builds bench/argon2-native, the native argon2id timer, at opt-level 3 and at the Worker's "s",
# with the host toolchain even on the Debian wasm route (whose variables are dropped here).
# Called by scripts/bench.sh and bench/argon2-kernel.mjs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unset RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD CARGO_TARGET_DIR
export PATH="$HOME/.cargo/bin:$PATH"
cd "$ROOT/bench/argon2-native"
cargo build --quiet --release >&2
cargo build --quiet --profile release-s >&2
