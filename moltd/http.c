/*
 * http.c - libmicrohttpd glue: request lifecycle, body limits, routing.
 *
 * Authentication happens on the first call, from the headers alone: a request
 * with a missing or wrong token is refused before any of its body is read. JSON
 * bodies are collected in memory up to --max-json; package uploads stream to a
 * temporary file in the artifact directory up to --max-package. A declared or
 * actual size above the limit is answered 413 and nothing is stored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moltd.h"

int http_reply(req_t *r, unsigned status, const char *type, const void *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    int ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int http_json(req_t *r, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return http_reply(r, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    int ret = http_reply(r, status, "application/json", s, strlen(s));
    free(s);
    return ret;
}

int http_error(req_t *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return http_json(r, status, json_pack("{s:s}", "error", msg));
}

const char *http_header(req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_arg(req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *http_body_json(req_t *r, int *ret)
{
    json_error_t e;
    json_t *j = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
    if (!j) {
        *ret = http_error(r, 400, "malformed JSON: %s", r->body_len ? e.text : "empty body");
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *ret = http_error(r, 400, "malformed JSON: the body must be an object");
        return NULL;
    }
    return j;
}

static void split(req_t *r, const char *url)
{
    r->url = strdup(url);
    r->nseg = 0;
    if (!r->url)
        return;
    char *save = NULL;
    for (char *t = strtok_r(r->url, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (r->nseg == (int)(sizeof r->seg / sizeof *r->seg)) {
            r->nseg = -1; /* too deep: no route matches */
            return;
        }
        r->seg[r->nseg++] = t;
    }
}

static bool is_mgmt(const req_t *r)
{
    return r->nseg >= 2 && strcmp(r->seg[0], "api") == 0 && strcmp(r->seg[1], "v1") == 0;
}

static bool is_ddi(const req_t *r)
{
    return r->nseg >= 4 && strcmp(r->seg[1], "controller") == 0 && strcmp(r->seg[2], "v1") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)version;
    moltd_t *srv = cls;
    req_t *r = *ctx;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *ctx = r;
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->fd = -1;
        split(r, url);
        r->to_file = strcmp(method, "POST") == 0 && r->nseg == 3 && is_mgmt(r) && strcmp(r->seg[2], "packages") == 0;
        size_t limit = r->to_file ? srv->max_package : srv->max_json;
        bool refused = false;
        int ret = MHD_YES;
        if (is_mgmt(r)) {
            ret = mgmt_auth(r, &refused);
            if (!refused)
                ret = mgmt_precheck(r, &refused);
        }
        else if (is_ddi(r))
            ret = ddi_auth(r, &refused);
        if (refused) {
            r->answered = true;
            return (enum MHD_Result)ret;
        }
        const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > limit) {
            r->answered = true;
            return (enum MHD_Result)http_error(r, 413, "body larger than %zu bytes", limit);
        }
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        size_t limit = r->to_file ? srv->max_package : srv->max_json;
        if (r->too_large || n > limit - r->body_len) {
            r->too_large = true;
            return MHD_YES; /* read and drop the rest; 413 at the end */
        }
        if (r->to_file) {
            if (r->fd < 0) {
                snprintf(r->tmp_path, sizeof r->tmp_path, "%s/.upload.XXXXXX", srv->artifact_dir);
                r->fd = mkstemp(r->tmp_path);
                if (r->fd < 0) {
                    r->tmp_path[0] = '\0';
                    r->answered = true;
                    return (enum MHD_Result)http_error(r, 500, "cannot store the upload: %s", strerror(errno));
                }
            }
            for (size_t off = 0; off < n;) {
                ssize_t w = write(r->fd, upload + off, n - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    r->answered = true;
                    return (enum MHD_Result)http_error(r, 507, "cannot store the upload: %s", strerror(errno));
                }
                off += (size_t)w;
            }
            r->body_len += n;
            return MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (r->too_large)
        return (enum MHD_Result)http_error(r, 413, "body larger than %zu bytes",
                                           r->to_file ? srv->max_package : srv->max_json);
    if (is_mgmt(r))
        return (enum MHD_Result)mgmt_dispatch(r);
    if (is_ddi(r))
        return (enum MHD_Result)ddi_dispatch(r);
    return (enum MHD_Result)http_error(r, 404, "no such resource");
}

static void on_done(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    req_t *r = *ctx;
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp_path[0])
        unlink(r->tmp_path); /* the upload was renamed into place if it was accepted */
    free(r->body);
    free(r->url);
    free(r);
    *ctx = NULL;
}

struct MHD_Daemon *http_start(moltd_t *srv, const char *addr, uint16_t port, unsigned threads)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return NULL;
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, port, NULL, NULL, on_request, srv,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
}

uint16_t http_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
