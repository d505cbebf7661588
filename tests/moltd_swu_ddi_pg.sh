#!/usr/bin/env bash
# moltd_swu_ddi_pg.sh - tests/moltd_swu_ddi.sh again, on PostgreSQL: a throw-away
# cluster on loopback (scripts/pg-cluster.sh). Both backends pass the same test.
set -uo pipefail
: "${MOLT_SRC:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
MOLTD_TEST_DB=$url bash "$MOLT_SRC/tests/moltd_swu_ddi.sh"
