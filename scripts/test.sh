#!/usr/bin/env bash
# Runs every test: host unit tests (cargo test), the wasm build, then the HTTP tests under Miniflare.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
echo "== host unit tests (cargo test)" >&2
# Host tests use the host toolchain even on the Debian wasm route.
(unset RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD CARGO_TARGET_DIR; PATH="$HOME/.cargo/bin:$PATH" cargo test --quiet)
echo "== wasm build" >&2
bash "$ROOT/scripts/build.sh"
echo "== HTTP tests under Miniflare (vitest)" >&2
npx vitest run "$@"
