#!/usr/bin/env bash
# web_pg.sh - tests/web.sh again (the dashboard in chromium against moltd and agents), on
# PostgreSQL: a throw-away cluster on loopback (scripts/pg-cluster.sh). Screenshots in
# $MOLT_BUILD/web-artifacts-pg.
set -uo pipefail
: "${MOLT_SRC:?}" "${MOLT_BUILD:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
MOLTD_TEST_DB=$url WEB_ARTIFACTS=$MOLT_BUILD/web-artifacts-pg bash "$MOLT_SRC/tests/web.sh"
