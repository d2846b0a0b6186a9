#!/usr/bin/env bash
# Installs what building and testing need, once; quick when everything is present.
#   - a wasm32 standard library: rustup's target when rustup can fetch it (route B), else
#     Debian's rustc-web + rust-web-src + lld with -Zbuild-std (route A);
#   - worker-build and wasm-bindgen-cli (the version Cargo.lock pins), from the Rust crate registry;
#   - the npm packages (wrangler, miniflare, vitest, esbuild, playwright-core) from package-lock.json;
#   - on request (ensure_chromium), chromium for the browser test.
# Source it: it exports the variables the build needs (PATH, WASM_BINDGEN_BIN, ESBUILD_BIN, ...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_LOG_PATH="$CACHE/wrangler-logs"

say() { echo "[bootstrap] $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

# ---- wasm32 standard library -------------------------------------------------------------
ROUTE_FILE="$CACHE/wasm-route"
if [ "$(cat "$ROUTE_FILE" 2>/dev/null)" = "debian" ]; then
  ROUTE=debian
elif rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  ROUTE=rustup
else
  say "adding the wasm32-unknown-unknown target with rustup (120 s limit)"
  if timeout 120 rustup target add wasm32-unknown-unknown >&2; then
    ROUTE=rustup
  else
    say "rustup could not fetch the target; installing Debian's rustc-web, rust-web-src and lld (as root)"
    as_root apt-get update -qq >&2
    LLD=$(apt-cache search --names-only '^lld-[0-9]+$' | awk '{print $1}' | sort -V | tail -n1)
    as_root apt-get install -y -qq rustc-web cargo-web rust-web-src "${LLD:-lld}" >&2
    ROUTE=debian
  fi
fi
echo "$ROUTE" > "$ROUTE_FILE"
if [ "$ROUTE" = debian ]; then
  # Debian's compiler builds std from source for wasm32; worker-build's sysroot probe is answered
  # by a small rustc wrapper first on PATH.
  SHIM="$CACHE/debian-shim"
  mkdir -p "$SHIM/sysroot-placeholder"
  cat > "$SHIM/rustc" <<SH
#!/usr/bin/env bash
if [ "\$*" = "--target wasm32-unknown-unknown --print target-libdir" ]; then echo "$SHIM/sysroot-placeholder"; exit 0; fi
exec /usr/bin/rustc "\$@"
SH
  chmod +x "$SHIM/rustc"
  ln -sf "$(ls /usr/bin/rust-lld* /usr/lib/llvm-*/bin/lld 2>/dev/null | head -n1)" "$SHIM/rust-lld" 2>/dev/null || true
  export PATH="$SHIM:/usr/bin:$PATH"
  export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  export CARGO_TARGET_DIR="$ROOT/target/debian"
fi

# ---- wasm target features ----------------------------------------------------------------
# wasm's 128-bit SIMD and relaxed SIMD (every V8 that runs Workers has both): the argon2id
# kernel runs on them (src/edge-argon2id). Only the wasm target gets the flags, so host builds
# and their cache are untouched; an explicit RUSTFLAGS would take precedence, so it is added to.
WASM_FEATURES="-C target-feature=+simd128,+relaxed-simd"
if [ -n "${RUSTFLAGS:-}" ]; then
  case " $RUSTFLAGS " in *"+simd128"*) ;; *) export RUSTFLAGS="$RUSTFLAGS $WASM_FEATURES" ;; esac
else
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_FEATURES"
fi

# ---- cargo tools -------------------------------------------------------------------------
WB_VERSION=0.8.7
if ! worker-build --version 2>/dev/null | grep -q "$WB_VERSION"; then
  say "installing worker-build $WB_VERSION (about 2 minutes)"
  cargo install worker-build --version "=$WB_VERSION" --locked --debug >&2
fi
BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$ROOT/Cargo.lock")
BINDGEN_ROOT="$CACHE/wasm-bindgen-$BINDGEN_VERSION"
if [ ! -x "$BINDGEN_ROOT/bin/wasm-bindgen" ] && wasm-bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION"; then
  mkdir -p "$BINDGEN_ROOT/bin"; ln -sf "$(command -v wasm-bindgen)" "$BINDGEN_ROOT/bin/wasm-bindgen"
fi
if [ ! -x "$BINDGEN_ROOT/bin/wasm-bindgen" ]; then
  say "installing wasm-bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
  # Not --locked: its lockfile pins a crate version the registry mirror may lack.
  cargo install wasm-bindgen-cli --version "=$BINDGEN_VERSION" --debug --root "$BINDGEN_ROOT" >&2
fi
export WASM_BINDGEN_BIN="$BINDGEN_ROOT/bin/wasm-bindgen"

# ---- npm packages ------------------------------------------------------------------------
STAMP="$ROOT/node_modules/.package-lock.json"
if [ ! -f "$STAMP" ] || [ "$ROOT/package-lock.json" -nt "$STAMP" ]; then
  say "installing npm packages"
  (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
fi
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
for bin in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN"; do
  [ -x "$bin" ] || { say "missing $bin"; exit 1; }
done

# ---- chromium (tests/browser.spec.ts only) -----------------------------------------------
# The distribution's chromium package, installed with apt-get as root when missing; scripts that
# need a browser call this (measured here: about 50 s, apt-get update included).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  say "installing chromium with apt-get for the browser test (as root; about a minute)"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
}
