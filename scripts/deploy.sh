#!/usr/bin/env bash
# npm run deploy: check the production configuration, apply the D1 migrations to the remote
# database, then deploy, stopping at the first failure (nothing is deployed after a failed
# check or a failed migration).
#
#   CHECK_SECRETS=SIGNING_KEY npm run deploy      # the secrets `wrangler secret list` shows
#
# WRANGLER (default `npx wrangler`) and CHECK (default `cargo run --quiet --bin check --`) name
# the commands used; CHECK_CONFIG (default wrangler.toml) the configuration, passed to both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export WRANGLER_SEND_METRICS=false
CONFIG="${CHECK_CONFIG:-wrangler.toml}"
read -r -a wrangler <<< "${WRANGLER:-npx wrangler}"
read -r -a check <<< "${CHECK:-cargo run --quiet --bin check --}"

echo "[deploy] 1/3 npm run check (production, $CONFIG)" >&2
"${check[@]}" --env production --config "$CONFIG" "$@"
echo "[deploy] 2/3 wrangler d1 migrations apply DB --remote" >&2
"${wrangler[@]}" d1 migrations apply DB --remote --config "$CONFIG"
echo "[deploy] 3/3 wrangler deploy" >&2
"${wrangler[@]}" deploy --config "$CONFIG"
