/*
 * ui.h - the dashboard (web/) as moltd serves it: static files under /ui/,
 * embedded in the binary at build time (cmake/embed_web.cmake), and the
 * read-only management endpoints it needs (views.c). docs/dashboard.md.
 */
#ifndef MOLTD_UI_H
#define MOLTD_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "moltd.h"

typedef struct ui_file {
    const char *name;             /* "index.html", "app.js" ... (no directories) */
    const unsigned char *data;
    size_t len;
} ui_file_t;

extern const ui_file_t ui_files[]; /* generated: ui_files.c */
extern const size_t ui_nfiles;

/* The static files: GET/HEAD /, /ui, /ui/, /ui/{name}. */
bool ui_match(const req_t *r);
int ui_dispatch(req_t *r);
/* A response the browser saves as a file (Content-Disposition: attachment). */
int ui_reply_download(req_t *r, const char *type, const char *filename, const void *body, size_t len);

/* views.c: GET /api/v1/whoami, /fleet, /audit/records, /devices/{id}/history,
 * /campaigns/{id}/timeline (viewer role; read-only). */
bool views_match(const req_t *r);
int views_dispatch(req_t *r);

#endif
