#!/usr/bin/env bash
# web_pg.sh - tests/web.sh again (the dashboard in chromium against moltd and agents), on
# PostgreSQL: a throw-away cluster on loopback (scripts/pg-cluster.sh). Screenshots in
# $MOLT_BUILD/web-artifacts-pg.
set -uo pipefail
: "${MOLT_SRC:?}" "${MOLT_BUILD:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_run web.sh WEB_ARTIFACTS="$MOLT_BUILD/web-artifacts-pg"
