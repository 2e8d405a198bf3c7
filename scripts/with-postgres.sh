#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on 127.0.0.1.
#
#   scripts/with-postgres.sh CMD [ARGS...]
#
# Uses Debian's PostgreSQL binaries (installs the `postgresql` package with apt if
# they are missing and we are root). initdb and postgres refuse to run as root, so
# as root the server runs as the `postgres` user. The data directory lives under
# /tmp and is deleted afterwards. The command sees ASSURE_TEST_PG_URL.
set -euo pipefail

find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

PGBIN="$(find_pgbin)"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "with-postgres: installing Debian's postgresql package" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PGBIN="$(find_pgbin)"
  else
    echo "with-postgres: PostgreSQL server binaries not found; install Debian's 'postgresql' package" >&2
    exit 1
  fi
fi

RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  RUN=(runuser -u postgres --)
fi

WORK="$(mktemp -d /tmp/assure-pg.XXXXXX)"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  "${RUN[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop EXIT

"${RUN[@]}" "$PGBIN/initdb" -D "$WORK/data" -A trust -U assure -E UTF8 --no-sync >/dev/null
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
  start >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

export ASSURE_TEST_PG_URL="postgresql+psycopg://assure@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
set +e
"$@"
status=$?
set -e
exit $status
