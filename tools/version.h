/*
 * version.h - image version strings "maj.min.rev+build", as imgtool writes them.
 */
#ifndef MOLT_TOOLS_VERSION_H
#define MOLT_TOOLS_VERSION_H

#include <stdbool.h>
#include <stddef.h>

#include "molt/image.h"

/* Parse "maj[.min[.rev]][+build]"; false if a part is missing, not a number,
 * or out of range (major, minor <= 255, rev <= 65535, build <= 2^32-1). */
bool cli_parse_version(const char *s, molt_version_t *v);

/* "1.2.3+4" (the build part always shown, as imgtool does). */
void cli_format_version(const molt_version_t *v, char *out, size_t cap);

#endif
