/*
 * version.c - parse and print image versions (see version.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

/* One decimal field of at most max; advances *s past it. */
static bool field(const char **s, unsigned long long max, unsigned long long *out)
{
    if (!isdigit((unsigned char)**s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(*s, &end, 10);
    if (errno || v > max || end - *s > 10)
        return false;
    *s = end;
    *out = v;
    return true;
}

bool cli_parse_version(const char *s, molt_version_t *v)
{
    unsigned long long maj, min = 0, rev = 0, build = 0;
    if (!s || !field(&s, 255, &maj))
        return false;
    if (*s == '.') {
        s++;
        if (!field(&s, 255, &min))
            return false;
        if (*s == '.') {
            s++;
            if (!field(&s, 65535, &rev))
                return false;
        }
    }
    if (*s == '+') {
        s++;
        if (!field(&s, 0xffffffffull, &build))
            return false;
    }
    if (*s != '\0')
        return false;
    v->major = (uint8_t)maj;
    v->minor = (uint8_t)min;
    v->revision = (uint16_t)rev;
    v->build = (uint32_t)build;
    return true;
}

void cli_format_version(const molt_version_t *v, char *out, size_t cap)
{
    snprintf(out, cap, "%u.%u.%u+%lu", v->major, v->minor, v->revision, (unsigned long)v->build);
}
