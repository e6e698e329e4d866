#!/usr/bin/env bash
# A PostgreSQL server of the project's own, for the tests and the bench:
#   deploy/local/postgres.sh start   installs the server if missing, starts it, makes the `test` database
#   deploy/local/postgres.sh stop
#   deploy/local/postgres.sh url     prints the admin URL the tests use (CLINIC_TEST_POSTGRES)
# It listens on 127.0.0.1 only, on CLINIC_POSTGRES_PORT (55432), with trust for local
# connections: a throwaway server for tests, never a production one. Starting it when it
# already runs does nothing, so `make test` can always ask for it.
set -euo pipefail

PORT="${CLINIC_POSTGRES_PORT:-55432}"
# PostgreSQL refuses to run as root: then it runs as the `postgres` user the Debian package
# makes, with its data where that user can reach it (a clone under a private /tmp folder is not).
if [ "$(id -u)" = 0 ]; then
  DATA="${CLINIC_POSTGRES_DATA:-/var/lib/postgresql/clinic-reminders-$PORT}"
else
  DATA="${CLINIC_POSTGRES_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/postgres-$PORT}"
fi
URL="postgresql://postgres@127.0.0.1:$PORT/test"

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    echo "postgres: installing Debian's postgresql package" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "postgres: no server binaries, and installing them needs root: apt-get install postgresql" >&2
      exit 1
    fi
    apt-get update -qq >&2
    # The package's own cluster is not wanted: only the binaries.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$found"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ready() {
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"
}

start() {
  BIN=$(bindir)
  if ready; then
    echo "postgres: already up on 127.0.0.1:$PORT"
  else
    if [ ! -f "$DATA/PG_VERSION" ]; then
      mkdir -p "$DATA"
      [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
      chmod 700 "$DATA"
      as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    # Fast and throwaway: nothing here needs to survive a power cut. Enough connections for
    # the tests' processes side by side (each service keeps a small pool).
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
      "-h 127.0.0.1 -p $PORT -k '' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null
    echo "postgres: started on 127.0.0.1:$PORT (data in $DATA)"
  fi
  if ! "$BIN/psql" -qtA "postgresql://postgres@127.0.0.1:$PORT/postgres" \
      -c "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    "$BIN/psql" -q "postgresql://postgres@127.0.0.1:$PORT/postgres" -c 'CREATE DATABASE test' >/dev/null
  fi
}

stop() {
  BIN=$(bindir)
  if [ -f "$DATA/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -w -m fast stop >/dev/null
    echo "postgres: stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
