#!/usr/bin/env bash
# Start a throwaway local PostgreSQL cluster for the database tests and print its URL, e.g.
#   export TEST_POSTGRES_URL="$(tests/db/start_postgres.sh)"
# The cluster lives in a temporary directory, listens on 127.0.0.1 and a unix socket there, and trusts local
# connections. Stop it with: pg_ctl -D "$dir/data" stop  (the directory is printed on stderr).
set -euo pipefail

PG_BIN="${PG_BIN:-}"
if [ -z "$PG_BIN" ]; then
  for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && PG_BIN="$candidate"
  done
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql" >&2
  exit 1
fi

PORT="${PGPORT_TEST:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
DIR="$(mktemp -d /tmp/imaginebot-pg.XXXXXX)"
chmod 755 "$DIR"

# PostgreSQL refuses to run as root: run the server as the `postgres` system user then.
run() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$DIR"
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

run "$PG_BIN/initdb" -D "$DIR/data" -U imaginebot --auth=trust --encoding=UTF8 --no-instructions >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
run "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }
run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U imaginebot imaginebot_test

echo "PostgreSQL running in $DIR (stop: $PG_BIN/pg_ctl -D $DIR/data stop)" >&2
echo "postgresql+asyncpg://imaginebot@127.0.0.1:$PORT/imaginebot_test"
