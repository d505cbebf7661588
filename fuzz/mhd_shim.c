/*
 * mhd_shim.c - the few libmicrohttpd functions moltd calls, in-process, so
 * fuzz_moltd drives moltd's real request path (http.c's callback: auth from
 * headers, body limits; routes.c and the resource files) without
 * a socket. MHD_start_daemon() records the access and completion callbacks
 * that http_start() passes; shim_request() then plays one request through
 * them the way the library does (headers call, body chunks, final call,
 * completion) and captures the one response. moltd's sources are unchanged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mhd_shim.h"
#include "oracle.h"

struct MHD_Connection {
    const shim_req_t *req;
    shim_resp_t *resp;
};

struct MHD_Response {
    unsigned refs;
    char *body;
    size_t len;
    int fd;
    uint64_t off;
    char type[128], range[128], location[512], etag[160];
};

struct MHD_Daemon {
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
    MHD_RequestCompletedCallback done;
    void *done_cls;
};

static struct MHD_Daemon g_daemon;

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    (void)flags, (void)port, (void)apc, (void)apc_cls;
    g_daemon.handler = dh;
    g_daemon.handler_cls = dh_cls;
    va_list ap;
    va_start(ap, dh_cls);
    for (;;) {
        int opt = va_arg(ap, int);
        if (opt == MHD_OPTION_END)
            break;
        if (opt == MHD_OPTION_NOTIFY_COMPLETED) {
            g_daemon.done = va_arg(ap, MHD_RequestCompletedCallback);
            g_daemon.done_cls = va_arg(ap, void *);
        } else if (opt == MHD_OPTION_SOCK_ADDR) {
            (void)va_arg(ap, void *);
        } else {
            (void)va_arg(ap, unsigned int); /* THREAD_POOL_SIZE, CONNECTION_TIMEOUT, CONNECTION_LIMIT */
        }
    }
    va_end(ap);
    return &g_daemon;
}

void MHD_stop_daemon(struct MHD_Daemon *d) { (void)d; }

const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType t, ...)
{
    (void)d, (void)t;
    return NULL;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The query argument name of the request (percent-decoded into buf). */
static const char *query_arg(const char *q, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) >= nl && strncmp(p, name, nl) == 0 && (p[nl] == '=' || p + nl == end)) {
            const char *v = p[nl] == '=' ? p + nl + 1 : end;
            size_t o = 0;
            for (; v < end && o + 1 < cap; v++) {
                if (*v == '%' && end - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    buf[o++] = (char)(hexval(v[1]) << 4 | hexval(v[2]));
                    v += 2;
                } else {
                    buf[o++] = *v == '+' ? ' ' : *v;
                }
            }
            buf[o] = '\0';
            return buf;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key)
{
    static char argbuf[1024];
    if (kind == MHD_GET_ARGUMENT_KIND)
        return query_arg(c->req->query, key, argbuf, sizeof argbuf);
    for (unsigned i = 0; i < c->req->nheaders; i++)
        if (strcasecmp(c->req->hname[i], key) == 0)
            return c->req->hvalue[i];
    return NULL;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
    (void)mode;
    struct MHD_Response *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->refs = 1;
    r->fd = -1;
    r->body = malloc(size + 1);
    if (!r->body) {
        free(r);
        return NULL;
    }
    memcpy(r->body, buffer, size);
    r->body[size] = '\0';
    r->len = size;
    return r;
}

struct MHD_Response *MHD_create_response_from_fd_at_offset64(uint64_t size, int fd, uint64_t offset)
{
    struct MHD_Response *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->refs = 1;
    r->fd = fd;
    r->off = offset;
    r->len = (size_t)size;
    return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{
    char *dst = strcasecmp(h, MHD_HTTP_HEADER_CONTENT_TYPE) == 0    ? r->type
                : strcasecmp(h, MHD_HTTP_HEADER_CONTENT_RANGE) == 0 ? r->range
                : strcasecmp(h, MHD_HTTP_HEADER_LOCATION) == 0      ? r->location
                : strcasecmp(h, MHD_HTTP_HEADER_ETAG) == 0          ? r->etag
                                                                    : NULL;
    size_t cap = dst == r->location ? sizeof r->location : dst == r->etag ? sizeof r->etag : sizeof r->type;
    if (dst)
        snprintf(dst, cap, "%s", v);
    if (strchr(v, '\n') || strchr(v, '\r'))
        FUZZ_FAIL("header injection");
    return MHD_YES;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r)
{
    shim_resp_t *o = c->resp;
    o->queued++;
    if (o->queued > 1)
        return MHD_NO; /* as libmicrohttpd: one response per request */
    o->status = status;
    snprintf(o->type, sizeof o->type, "%s", r->type);
    snprintf(o->range, sizeof o->range, "%s", r->range);
    snprintf(o->location, sizeof o->location, "%s", r->location);
    o->from_fd = r->fd >= 0;
    o->off = r->off;
    o->len = r->len;
    o->file_size = 0;
    if (r->fd >= 0) {
        struct stat st;
        o->file_size = fstat(r->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else {
        o->body = malloc(r->len + 1);
        if (o->body) {
            memcpy(o->body, r->body, r->len);
            o->body[r->len] = '\0';
        }
    }
    return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->body);
    free(r);
}

void shim_request(const shim_req_t *req, shim_resp_t *resp)
{
    struct MHD_Connection c = {req, resp};
    memset(resp, 0, sizeof *resp);
    void *ctx = NULL;
    size_t zero = 0;
    enum MHD_Result ok = g_daemon.handler(g_daemon.handler_cls, &c, req->path, req->method, "HTTP/1.1", NULL, &zero, &ctx);
    /* As libmicrohttpd: once a response is queued, the rest of the body is
     * not handed to the application any more. */
    for (size_t off = 0; ok == MHD_YES && resp->queued == 0 && off < req->body_len;) {
        size_t n = req->body_len - off > 4096 ? 4096 : req->body_len - off, left = n;
        ok = g_daemon.handler(g_daemon.handler_cls, &c, req->path, req->method, "HTTP/1.1", req->body + off, &left, &ctx);
        if (left != 0)
            FUZZ_FAIL("the handler must consume what it is given");
        off += n;
    }
    if (ok == MHD_YES)
        ok = g_daemon.handler(g_daemon.handler_cls, &c, req->path, req->method, "HTTP/1.1", NULL, &zero, &ctx);
    resp->result = ok;
    if (g_daemon.done)
        g_daemon.done(g_daemon.done_cls, &c, &ctx, MHD_REQUEST_TERMINATED_COMPLETED_OK);
}

/* No sockets here: connection info (per-address limits, header deadlines) is
 * absent, which http.c treats as "not tracked". */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c, enum MHD_ConnectionInfoType t, ...)
{
    (void)c;
    (void)t;
    return NULL;
}
