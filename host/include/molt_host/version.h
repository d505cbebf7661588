/*
 * molt_host/version.h - image version strings "maj.min.rev+build", as imgtool writes them.
 */
#ifndef MOLT_HOST_VERSION_H
#define MOLT_HOST_VERSION_H

#include <stdbool.h>
#include <stddef.h>

#include "molt/image.h"

/* Parse imgtool's "maj[.min[.rev[+build]]]" (decimal, no leading zeros); false
 * with *why set if malformed or out of range (255.255.65535+4294967295 at most). */
bool host_parse_version(const char *s, molt_version_t *ver, const char **why);

/* "1.2.3+4" (the build part always shown, as imgtool does). */
void host_format_version(const molt_version_t *v, char *out, size_t cap);

#endif
