#!/usr/bin/env bash
# agent_pg.sh - tests/moltd_attest.sh, tests/moltd_enc.sh and tests/agent.sh again, on
# PostgreSQL: a throw-away cluster on loopback (scripts/pg-cluster.sh), one database for
# each test. R-ATTEST, R-CONF, R-ONEPKG, R-NOTIFY, R-BACKGROUND, R-EASY: as in those
# tests; both backends pass them.
set -uo pipefail
: "${MOLT_SRC:?}"
state=$(mktemp -d)
trap '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$state" >/dev/null 2>&1; rm -rf "$state"' EXIT
url=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$state") || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
psql -X -q "$url" -c "CREATE DATABASE molt_attest" -c "CREATE DATABASE molt_enc" -c "CREATE DATABASE molt_agent" || { echo "FAIL: createdb"; exit 1; }
rc=0
MOLTD_TEST_DB=${url%/molt}/molt_attest bash "$MOLT_SRC/tests/moltd_attest.sh" || rc=1
MOLTD_TEST_DB=${url%/molt}/molt_enc bash "$MOLT_SRC/tests/moltd_enc.sh" || rc=1
MOLTD_TEST_DB=${url%/molt}/molt_agent bash "$MOLT_SRC/tests/agent.sh" || rc=1
exit $rc
