#!/usr/bin/env bash
# pg-cluster.sh - a throw-away PostgreSQL cluster on loopback, for tests and benches.
#   scripts/pg-cluster.sh start DIR   initdb in a fresh temporary directory (its name is kept in
#                                     DIR/pgdir), listen on 127.0.0.1 (a free port) and a socket
#                                     there; prints the URL: postgresql://molt@127.0.0.1:PORT/molt
#   scripts/pg-cluster.sh stop DIR    stop it and remove the cluster's directory
# Uses Debian's postgresql package (scripts/deps.sh). PostgreSQL refuses to run as root, so
# as root the cluster runs as the `postgres` system user. Trust authentication on loopback
# only: never use this for data that matters.
set -euo pipefail
cmd=${1:?usage: pg-cluster.sh start|stop DIR}; dir=${2:?usage: pg-cluster.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "pg-cluster: PostgreSQL is not installed (scripts/deps.sh installs it)" >&2; exit 2; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $cmd in
start)
  mkdir -p "$dir"
  pg=$(mktemp -d); echo "$pg" > "$dir/pgdir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pg"; fi
  as_pg "$bin/initdb" -D "$pg/data" -U molt -A trust --no-sync >"$dir/initdb.log" 2>&1 \
    || { echo "pg-cluster: initdb failed: $(tail -n 1 "$dir/initdb.log")" >&2; exit 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -s \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $pg" start \
    || { echo "pg-cluster: start failed: $(tail -n 1 "$pg/server.log")" >&2; exit 1; }
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U molt molt
  echo "$port" > "$dir/port"
  echo "postgresql://molt@127.0.0.1:$port/molt"
  ;;
stop)
  [ -f "$dir/pgdir" ] || exit 0
  pg=$(cat "$dir/pgdir")
  [ -d "$pg/data" ] && as_pg "$bin/pg_ctl" -D "$pg/data" -m fast -w -s stop
  rm -rf "$pg" "$dir/pgdir"
  ;;
*) echo "usage: pg-cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
