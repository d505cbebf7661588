/*
 * audit.c - the append-only audit log: one record per change, written inside
 * the change's own transaction.
 */
#include <stdio.h>

#include "moltd.h"

db_status_t audit(moltd_t *srv, const char *actor, const char *what, const char *object, const char *before,
                  const char *after, const char *detail)
{
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)now_ms());
    return Q(srv, NULL,
             "INSERT INTO audit (at, actor, what, object, version_before, version_after, detail)"
             " VALUES ($1, $2, $3, $4, $5, $6, $7)",
             at, actor, what, object, before, after, detail);
}
