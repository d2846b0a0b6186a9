#!/usr/bin/env bash
# Runs the Worker locally: wrangler dev on http://127.0.0.1:8787 with local D1 and KV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
if ! grep -qs '^SIGNING_KEY=' .dev.vars; then
  echo "[dev] writing a random SIGNING_KEY to .dev.vars (git-ignored)" >&2
  echo "SIGNING_KEY=$(node -e 'console.log(require("crypto").randomBytes(48).toString("base64url"))')" >> .dev.vars
fi
# Local development values; wrangler.toml ships production ones.
for pair in EMAIL_BACKEND=console PROTOCOL=http DOMAIN=localhost:3000 DEBUG=true; do
  if ! grep -qs "^${pair%%=*}=" .dev.vars; then echo "$pair" >> .dev.vars; fi
done
bash "$ROOT/scripts/build.sh"
npx wrangler d1 migrations apply DB --local >&2
exec npx wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --show-interactive-dev-session=false "$@"
