#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests: `start` installs PostgreSQL 15
# from Debian's packages when it is missing, `stop` removes the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${CHATDESK_TEST_PG_PORT:-55432}"
ENV_DIR="$PWD/.pg"
# The cluster lives outside the checkout: the checkout may sit in a directory that the
# postgres user cannot enter (a private temporary directory, a home directory).
DIR="${CHATDESK_TEST_PG_DIR:-/tmp/chatdesk-pg-$PORT}"

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

install_postgres() {
  echo "PostgreSQL not found: installing postgresql-15 from Debian packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-15 >/dev/null \
    || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

start() {
  BIN="$(find_bin)" || { install_postgres; BIN="$(find_bin)"; }
  stop_quietly
  mkdir -p "$DIR" "$ENV_DIR"
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$BIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync >/dev/null
  "${run[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start \
    -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  echo "export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/postgres" > "$ENV_DIR/env"
  echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') running on 127.0.0.1:$PORT"
}

stop_quietly() {
  local bin
  bin="$(find_bin)" || return 0
  if [ -f "$DIR/data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    else "$bin/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$DIR" "$ENV_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop_quietly ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
