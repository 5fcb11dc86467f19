#!/usr/bin/env bash
# Installs what orchestrate, its demo and its tests need and a fresh machine may lack, then builds.
# Idempotent: each step checks first, so a second run takes seconds.
#   - PostgreSQL server and client binaries (Debian packages) when absent
#   - a Python venv in .venv with Alembic and psycopg2 (the demo's and the tests' migration tool), and
#     asyncpg with greenlet (the tests' async env.py, as FastAPI projects write it)
#   - node modules (npm ci) and the TypeScript build
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    say "need root to run: $*"; return 1
  fi
}

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then say "cannot install $* here (no apt-get): install it and retry"; return 1; fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

have_server() {
  [ -n "${ORCHESTRATE_PG_BINDIR:-}" ] && [ -x "$ORCHESTRATE_PG_BINDIR/initdb" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  command -v initdb >/dev/null 2>&1
}

if ! have_server; then apt_install postgresql; fi
if ! command -v pg_dump >/dev/null 2>&1 || ! command -v pg_restore >/dev/null 2>&1; then apt_install postgresql-client; fi

if [ ! -x .venv/bin/alembic ] || ! .venv/bin/python -c 'import psycopg2, asyncpg, greenlet' >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null 2>&1; then apt_install python3 python3-venv; fi
  if ! python3 -m venv .venv >/dev/null 2>&1; then apt_install python3-venv; rm -rf .venv; python3 -m venv .venv; fi
  say "installing alembic, psycopg2-binary, asyncpg and greenlet into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check --retries 0 alembic psycopg2-binary asyncpg greenlet
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules (npm ci: exactly the lock file)"
  # squawk-cli is pinned to a version whose five platform packages the registry all has, so the lock
  # file lists every one of them and npm ci accepts it on any platform.
  # --engine-strict: a dependency that does not run on this Node fails the install instead of warning.
  npm ci --engine-strict --no-audit --no-fund --loglevel=error
fi

npm run --silent build
