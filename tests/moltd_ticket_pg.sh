#!/usr/bin/env bash
# moltd_ticket_pg.sh - tests/moltd_ticket.sh again, on PostgreSQL: a throw-away cluster on
# loopback (scripts/pg-cluster.sh). R-AVAIL (deployer side): as in moltd_ticket.sh; both
# backends pass the same test.
set -uo pipefail
: "${MOLT_SRC:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
MOLTD_TEST_DB=$url bash "$MOLT_SRC/tests/moltd_ticket.sh"
