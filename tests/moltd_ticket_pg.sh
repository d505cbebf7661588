#!/usr/bin/env bash
# moltd_ticket_pg.sh - tests/moltd_ticket.sh again, on PostgreSQL: a throw-away cluster on
# loopback (scripts/pg-cluster.sh). R-AVAIL (deployer side): as in moltd_ticket.sh; both
# backends pass the same test.
set -uo pipefail
: "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_run moltd_ticket.sh
