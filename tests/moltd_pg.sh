#!/usr/bin/env bash
# moltd_pg.sh - tests/moltd.sh again, on PostgreSQL: a throw-away cluster on loopback
# (scripts/pg-cluster.sh, Debian's postgresql package). Both backends pass the same test.
# R-DEPLOY-VERSION, R-NOTIFY, R-ONEPKG: as in moltd.sh.
set -uo pipefail
: "${MOLT_SRC:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
MOLTD_TEST_DB=$url bash "$MOLT_SRC/tests/moltd.sh"
