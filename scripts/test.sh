#!/usr/bin/env bash
# Lint, type-check and run the whole suite against SQLite and a throwaway PostgreSQL on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

bash scripts/postgres.sh start
trap 'bash scripts/postgres.sh stop' EXIT
# shellcheck disable=SC1091
source .pg/env

echo "== ruff"; $BIN/ruff check .
echo "== mypy"; $BIN/mypy bot kb storage adapters chatdesk
echo "== pytest (SQLite and PostgreSQL at ${TEST_POSTGRES_URL%%@*}@...)"
$BIN/pytest -q -p no:cacheprovider "$@"
