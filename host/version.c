/*
 * version.c - parse and print image versions (see version.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "molt_host/version.h"

/* One version component: "0" or a decimal without leading zeros. */
static bool version_part(const char **p, uint64_t max, uint64_t *v, bool *range)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
        return false;
    uint64_t x = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (x <= UINT32_MAX)
            x = x * 10 + (uint64_t)(*s - '0');
    }
    *range = *range || x > max;
    *v = x;
    *p = s;
    return true;
}

/* imgtool's maj.min.rev+build (later parts optional), then the header's ranges. */
bool host_parse_version(const char *s, molt_version_t *ver, const char **why)
{
    uint64_t v[4] = {0};
    static const uint64_t max[4] = {255, 255, 65535, UINT32_MAX};
    bool range = false;
    const char *p = s;
    bool ok = version_part(&p, max[0], &v[0], &range);
    for (int i = 1; ok && i < 4 && *p; i++) {
        if (*p != (i == 3 ? '+' : '.'))
            break;
        p++;
        ok = version_part(&p, max[i], &v[i], &range);
    }
    if (!ok || *p) {
        *why = "not maj.min.rev+build";
        return false;
    }
    if (range) {
        *why = "out of range (at most 255.255.65535+4294967295)";
        return false;
    }
    *ver = (molt_version_t){(uint8_t)v[0], (uint8_t)v[1], (uint16_t)v[2], (uint32_t)v[3]};
    return true;
}

void host_format_version(const molt_version_t *v, char *out, size_t cap)
{
    snprintf(out, cap, "%u.%u.%u+%lu", v->major, v->minor, v->revision, (unsigned long)v->build);
}
