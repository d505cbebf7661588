#!/usr/bin/env bash
# moltd_attack_pg.sh - tests/moltd_attack.sh on PostgreSQL (a throw-away cluster on
# loopback, scripts/pg-cluster.sh): malformed ids are 404 there too, and every other
# refusal holds on both backends. The full-disk part runs on SQLite only.
set -uo pipefail
: "${MOLT_SRC:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
MOLTD_TEST_DB=$url bash "$MOLT_SRC/tests/moltd_attack.sh"
