#!/usr/bin/env bash
# moltd_scale_pg.sh - tests/moltd_scale.sh on PostgreSQL (a throw-away cluster on
# loopback, scripts/pg-cluster.sh): the same bookkeeping and indexes there.
set -uo pipefail
: "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_run moltd_scale.sh
