#!/usr/bin/env bash
# Benchmarks: each reports ratios against a baseline measured in the same run and
# writes bench-results/<name>.json. BENCH_ARGS=--quick for a shorter run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p bench-results
bash scripts/postgres.sh start
trap 'bash scripts/postgres.sh stop' EXIT
# shellcheck disable=SC1091
source .pg/env
status=0
for bench in tests/bench/bench_*.py; do
  echo "== $bench"
  PYTHONPATH=. $BIN/python "$bench" ${BENCH_ARGS:-} || { echo "$bench failed"; status=1; }
done
exit $status
