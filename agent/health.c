/*
 * health.c - the health check of a trial image, before it is accepted or rejected.
 *
 * --health-fail fails it (a test fault); --health-cmd CMD runs CMD through the
 * shell with MOLT_VERSION (the running version) and MOLT_DEVICE (the --id) in
 * its environment: exit status 0 passes. Without either, the check passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "agent.h"

bool health_check(agent_t *a, char *why, size_t cap)
{
    if (a->health_fail) {
        snprintf(why, cap, "health check failed (--health-fail)");
        ev(a, "health", "{s:b,s:s,s:s}", "ok", 0, "version", a->boot.running, "check", "--health-fail");
        return false;
    }
    if (!a->health_cmd) {
        snprintf(why, cap, "health check passed");
        ev(a, "health", "{s:b,s:s,s:s}", "ok", 1, "version", a->boot.running, "check", "none");
        return true;
    }
    setenv("MOLT_VERSION", a->boot.running, 1);
    setenv("MOLT_DEVICE", a->id, 1);
    int st = system(a->health_cmd);
    bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    int status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    snprintf(why, cap, "health check `%s` %s (status %d)", a->health_cmd, ok ? "passed" : "failed", status);
    ev(a, "health", "{s:b,s:s,s:s,s:s,s:i}", "ok", ok, "version", a->boot.running, "check", "command", "command",
       a->health_cmd, "status", status);
    return ok;
}
