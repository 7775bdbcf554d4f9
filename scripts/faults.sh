#!/usr/bin/env bash
# The fault tests in full (tests/faults): `chatdesk serve --workers 4` on PostgreSQL under 2,000
# signed Slack events while workers are killed, the Web API fails and a table is locked; plus
# the several-workers test and the outbox's history check. Uses TEST_POSTGRES_URL when set,
# else a throwaway PostgreSQL on loopback (as scripts/test.sh). `make test` runs the short form.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  bash scripts/postgres.sh start
  trap 'bash scripts/postgres.sh stop' EXIT
  # shellcheck disable=SC1091
  source .pg/env
fi

echo "== fault tests, full form (PostgreSQL at ${TEST_POSTGRES_URL%%@*}@...)"
$BIN/pytest -q -p no:cacheprovider -s tests/faults "$@"
