#!/usr/bin/env bash
# target_mps2.sh - the short form of `make target-demo` (R-SECBOOT, R-ROLLBACK, R-FAILSAFE,
# R-AUTH): ports/mps2 cross-built for mps2-an386 (Cortex-M4) and mps2-an505 (Cortex-M33),
# run in QEMU: factory boot of v1, v2 received through the PSA FWU API, trial, health
# check, accept (counter 2); v3 fails its health check and is reverted; a rollback image
# (counter 1) refused with PSA_ERROR_NOT_PERMITTED / ROLLBACK. Every QEMU run's console
# transcript must equal the expected one exactly (scripts/target-demo.sh).
set -euo pipefail
: "${MOLT:?}" "${MOLT_SRC:?}" "${MOLT_BUILD:?}"
exec "$MOLT_SRC/scripts/target-demo.sh" --short "$MOLT" "$MOLT_BUILD/mps2"
