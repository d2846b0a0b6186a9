#!/usr/bin/env bash
# Usage: bash bench/djoser/run.sh PORT
#
# Serves the real djoser (the Django project beside this script: djoser and SimpleJWT under
# /auth/, sqlite) with gunicorn, 2 sync workers, on 127.0.0.1:PORT only, in the foreground. The
# last step execs gunicorn, so this script's pid becomes gunicorn's master: SIGINT or SIGTERM
# stops it and its workers.
#
# The first start makes a virtualenv and installs requirements.txt from PyPI into it (about a
# minute); later starts only check that it still matches requirements.txt. Each start begins
# with an empty database and an empty e-mail folder.
#
# Environment (all optional):
#   BENCH_DJOSER_STATE       folder for this run's db.sqlite3 and emails/ (one file per e-mail);
#                            default .cache/bench-djoser/PORT at the repository's root
#   BENCH_DJOSER_VENV        the virtualenv; default .cache/bench-djoser-venv at the root
#   BENCH_DJOSER_SECRET_KEY  Django's SECRET_KEY (signs the JWTs); default: a new one per start
#   PYTHON                   the interpreter that makes the virtualenv (python3, 3.10 or later)
set -euo pipefail

say() { echo "[bench-djoser] $*" >&2; }
die() { say "$*"; exit 1; }

PORT="${1:-}"
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] ||
  die "usage: bash bench/djoser/run.sh PORT"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${BENCH_DJOSER_VENV:-$ROOT/.cache/bench-djoser-venv}"
STATE="${BENCH_DJOSER_STATE:-$ROOT/.cache/bench-djoser/$PORT}"
PY="${PYTHON:-python3}"

# ---- the virtualenv ----------------------------------------------------------------------
# Made again when its interpreter no longer runs (say, the Python it was made from is gone).
if ! "$VENV/bin/python" -c "" 2>/dev/null; then
  command -v "$PY" >/dev/null || die "no $PY: set PYTHON to a Python 3.10 or later"
  "$PY" -c "import sys; sys.exit(sys.version_info < (3, 10))" ||
    die "$PY is older than 3.10, which Django 5.2 needs: set PYTHON"
  if [ -f "$VENV/pyvenv.cfg" ]; then
    say "remaking the virtualenv $VENV (its interpreter does not run)"
    "$PY" -m venv --clear "$VENV"
  elif [ -e "$VENV" ] && [ -n "$(ls -A "$VENV")" ]; then
    die "$VENV exists and is no virtualenv: remove it or set BENCH_DJOSER_VENV"
  else
    say "making the virtualenv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
  fi
fi

# What was installed: requirements.txt and the interpreter's version, as of the last install.
STAMP="$VENV/.bench-djoser-installed"
WANT="$(cat "$HERE/requirements.txt"; "$VENV/bin/python" -c "import sys; print(sys.version)")"
if [ "$WANT" != "$(cat "$STAMP" 2>/dev/null)" ]; then
  say "installing bench/djoser/requirements.txt from PyPI into $VENV"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$HERE/requirements.txt" >&2
  "$VENV/bin/python" -m pip check --disable-pip-version-check >&2
  printf '%s' "$WANT" >"$STAMP"
fi

# ---- this run's data -----------------------------------------------------------------------
mkdir -p "$STATE"
rm -f "$STATE/db.sqlite3" "$STATE/db.sqlite3-journal" "$STATE/db.sqlite3-wal" "$STATE/db.sqlite3-shm"
rm -rf "$STATE/emails"
mkdir "$STATE/emails"
export BENCH_DJOSER_STATE="$STATE"
# One key for the master and both workers, or a token signed by one would fail on the other.
BENCH_DJOSER_SECRET_KEY="${BENCH_DJOSER_SECRET_KEY:-$("$VENV/bin/python" -c "import secrets; print(secrets.token_urlsafe(48))")}"
export BENCH_DJOSER_SECRET_KEY
export DJANGO_SETTINGS_MODULE=settings
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ folders in bench/djoser

cd "$HERE"
"$VENV/bin/python" manage.py migrate --noinput --verbosity 0 >&2

# ---- serve ---------------------------------------------------------------------------------
say "serving http://127.0.0.1:$PORT/auth/ (data in $STATE)"
exec "$VENV/bin/gunicorn" wsgi:application \
  --chdir "$HERE" \
  --bind "127.0.0.1:$PORT" \
  --workers 2 \
  --worker-class sync \
  --log-level warning
