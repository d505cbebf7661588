#!/usr/bin/env bash
# moltd_swu_ddi_pg.sh - tests/moltd_swu_ddi.sh again, on PostgreSQL: a throw-away
# cluster on loopback (scripts/pg-cluster.sh). Both backends pass the same test.
set -uo pipefail
: "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_run moltd_swu_ddi.sh
