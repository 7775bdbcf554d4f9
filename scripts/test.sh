#!/usr/bin/env bash
# Lint, type-check and run the whole suite against SQLite and a throwaway PostgreSQL on loopback,
# then the short form of the fault tests (tests/faults; `make faults` runs them in full).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# The leads' board is tested end to end in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package for the board test"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; } \
    || echo "could not install chromium: the browser test of the board will be skipped"
fi

# Teams cards are checked with Microsoft's Adaptive Cards library (npm), kept in .node/.
if command -v npm >/dev/null 2>&1 && [ ! -d .node/node_modules/adaptivecards ]; then
  npm install --prefix .node --no-audit --no-fund --silent adaptivecards@3.0.6 >/dev/null 2>&1 \
    || echo "could not install the adaptivecards npm package: the card validation test will be skipped"
fi

bash scripts/postgres.sh start
trap 'bash scripts/postgres.sh stop; bash scripts/dovecot.sh stop' EXIT
# shellcheck disable=SC1091
source .pg/env
# The mail tests read a real IMAP mailbox: a private dovecot on a free loopback port.
bash scripts/dovecot.sh start
# shellcheck disable=SC1091
source .dovecot/env

echo "== ruff"; $BIN/ruff check .
echo "== mypy"; $BIN/mypy bot kb storage adapters chatdesk
echo "== pytest (SQLite and PostgreSQL at ${TEST_POSTGRES_URL%%@*}@..., IMAP at 127.0.0.1:$TEST_IMAP_PORT)"
$BIN/pytest -q -p no:cacheprovider "$@"
if [ $# -eq 0 ]; then
  echo "== fault tests, short form (make faults runs the full load)"
  $BIN/pytest -q -p no:cacheprovider -s tests/faults -m "not full"
fi
