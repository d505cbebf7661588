/*
 * download.c - the device API's downloads (GET/HEAD .../softwaremodules/{id}/
 * artifacts/{filename}): the package's bytes from the artifact store, with HTTP
 * Range and If-Range, ETag (the package's sha256), its .MD5SUM line, or a
 * redirect to --artifact-base-url (the package is signed end to end: the mirror
 * need not be trusted). Only a device of the package's class may fetch it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moltd.h"

/* Parse a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against size.
 * Returns 1 satisfiable (off, len set), 0 absent or not understood (serve all),
 * -1 unsatisfiable (416). Several ranges are served as the whole file. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9')
            return 0;
        uint64_t n = strtoull(p + 1, &end, 10);
        if (*end)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *len = n > size ? size : n;
        *off = size - *len;
        return 1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    uint64_t a = strtoull(p, &end, 10), b;
    if (*end != '-')
        return 0;
    if (end[1] == '\0')
        b = size ? size - 1 : 0;
    else {
        if (end[1] < '0' || end[1] > '9')
            return 0;
        b = strtoull(end + 1, &end, 10);
        if (*end || b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    if (b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

static int serve_artifact(req_t *r, const char *sha, const char *etag, uint64_t size);

int ddi_download(req_t *r, const char *pkgid, const char *fname)
{
    moltd_t *srv = r->srv;
    db_rows_t p;
    srv_lock(srv);
    db_status_t st = Q(srv, &p,
                       "SELECT p.sha256, p.md5, p.size, p.filename FROM packages p JOIN devices d ON d.class = p.class"
                       " WHERE p.id = $1 AND d.id = $2",
                       pkgid, r->device);
    srv_unlock(srv);
    if (st != DB_OK)
        return http_db_error(r);
    size_t fl = strlen(fname), name_len = p.nrows ? strlen(db_cell(&p, 0, 3)) : 0;
    bool md5 = p.nrows && fl == name_len + 7 && strcmp(fname + name_len, ".MD5SUM") == 0 &&
               strncmp(fname, db_cell(&p, 0, 3), name_len) == 0;
    if (p.nrows == 0 || (!md5 && strcmp(fname, db_cell(&p, 0, 3)) != 0)) {
        db_rows_free(&p);
        return http_error(r, 404, "no artifact %s/%s for %s", pkgid, fname, r->device);
    }
    char sha[65], etag[80];
    snprintf(sha, sizeof sha, "%s", db_cell(&p, 0, 0));
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    uint64_t size = strtoull(db_cell(&p, 0, 2), NULL, 10);
    if (md5) {
        char line[256];
        int n = snprintf(line, sizeof line, "%s  %s\n", db_cell(&p, 0, 1), db_cell(&p, 0, 3));
        db_rows_free(&p);
        return http_reply(r, 200, "text/plain", line, (size_t)n);
    }
    db_rows_free(&p);
    if (srv->artifact_base_url) {
        /* The package is signed end to end: the mirror or CDN need not be trusted. */
        char loc[4200];
        snprintf(loc, sizeof loc, "%s/%s", srv->artifact_base_url, sha);
        return http_empty(r, 302, MHD_HTTP_HEADER_LOCATION, loc, MHD_HTTP_HEADER_ETAG, etag);
    }
    if (http_etag_matches(http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag))
        return http_empty(r, 304, MHD_HTTP_HEADER_ETAG, etag, NULL, NULL);
    return serve_artifact(r, sha, etag, size);
}

/* The artifact's bytes from the store, whole or the Range asked (If-Range: only
 * while the client's copy is this version). */
static int serve_artifact(req_t *r, const char *sha, const char *etag, uint64_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", r->srv->artifact_dir, sha);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat stt;
    if (fd < 0 || fstat(fd, &stt) != 0 || (uint64_t)stt.st_size != size) {
        if (fd >= 0)
            close(fd);
        return http_error(r, 500, "artifact %s is missing or damaged in the store", sha);
    }
    uint64_t off = 0, len = size;
    const char *ifr = http_header(r, "If-Range");
    int rg = parse_range(http_header(r, MHD_HTTP_HEADER_RANGE), size, &off, &len);
    if (rg != 0 && ifr && strcmp(ifr, etag) != 0) { /* the client's copy is another version: send it all */
        rg = 0;
        off = 0;
        len = size;
    }
    if (rg < 0) {
        close(fd);
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        return http_empty(r, 416, MHD_HTTP_HEADER_CONTENT_RANGE, cr, NULL, NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off); /* owns fd */
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (rg > 0) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    int ret = MHD_queue_response(r->conn, rg > 0 ? 206 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
