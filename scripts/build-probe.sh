#!/usr/bin/env bash
# Builds the argon2id kernel's probe (src/edge-argon2id/examples/probe.rs) for wasm32 with the
# Worker's target features and prints the path of its .wasm; tests/argon2-simd.spec.ts and
# bench/argon2-kernel.mjs load it into workerd.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
cargo build --quiet --release --target wasm32-unknown-unknown -p edge-argon2id --example probe >&2
echo "${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-unknown-unknown/release/examples/probe.wasm"
