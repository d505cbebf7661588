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
#include <sys/socket.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <openssl/crypto.h>

#include "moltd.h"
#include "ui.h"

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

int http_empty(req_t *r, unsigned status, const char *h1, const char *v1, const char *h2, const char *v2)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (h1)
        MHD_add_response_header(resp, h1, v1);
    if (h2)
        MHD_add_response_header(resp, h2, v2);
    int ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

bool http_etag_matches(const char *h, const char *etag)
{
    if (!h)
        return false;
    if (strcmp(h, "*") == 0)
        return true;
    return strstr(h, etag) != NULL; /* a list of quoted tags; ours is a full quoted sha256 */
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
    /* Messages quote request bytes: anything outside printable ASCII becomes
     * '?', so the body is valid UTF-8 JSON and the status stays the 4xx meant
     * (a fuzz finding: json_pack refused it and the client got a 500). */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return http_json(r, status, json_pack("{s:s}", "error", msg));
}

int http_db_error(req_t *r)
{
    db_t *db = srv_db(r->srv);
    return http_error(r, db->full ? 507 : 500, "database: %s", db->err);
}

/* --- connection deadlines --------------------------------------------------
 * A client must finish a request's headers in time: --header-timeout seconds
 * after it connects, and, on a kept-alive connection, the connection timeout
 * after the previous response. The idle timeout alone would let a client hold
 * a connection for ever by sending one byte now and then. A watchdog thread
 * shuts the socket of a connection past its deadline; libmicrohttpd then
 * closes it as it would any connection the peer dropped. */
typedef struct conn_slot {
    int fd;
    int64_t deadline;             /* ms since the epoch; 0 while a request is served */
    bool shut;
    struct conn_slot *prev, *next;
} conn_slot_t;

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static conn_slot_t conns = {-1, 0, false, &conns, &conns};
static pthread_t watchdog;
static volatile bool watchdog_stop;
static bool watchdog_running;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    moltd_t *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_slot_t *c = calloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c || !ci) {
            free(c);
            return;
        }
        c->fd = ci->connect_fd;
        c->deadline = now_ms() + (int64_t)srv->header_timeout * 1000;
        pthread_mutex_lock(&conns_lock);
        c->next = conns.next;
        c->prev = &conns;
        conns.next->prev = c;
        conns.next = c;
        pthread_mutex_unlock(&conns_lock);
        *socket_ctx = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_ctx) {
        conn_slot_t *c = *socket_ctx;
        pthread_mutex_lock(&conns_lock); /* the socket is still open here: the watchdog never shuts a reused fd */
        c->prev->next = c->next;
        c->next->prev = c->prev;
        pthread_mutex_unlock(&conns_lock);
        free(c);
        *socket_ctx = NULL;
    }
}

static void conn_deadline(struct MHD_Connection *conn, int64_t deadline)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_slot_t *c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&conns_lock);
    c->deadline = deadline;
    pthread_mutex_unlock(&conns_lock);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    const struct timespec tick = {0, 200 * 1000 * 1000};
    while (!watchdog_stop) {
        nanosleep(&tick, NULL);
        int64_t t = now_ms();
        pthread_mutex_lock(&conns_lock);
        for (conn_slot_t *c = conns.next; c != &conns; c = c->next)
            if (c->deadline && !c->shut && t > c->deadline) {
                shutdown(c->fd, SHUT_RDWR);
                c->shut = true;
            }
        pthread_mutex_unlock(&conns_lock);
    }
    return NULL;
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

/* --- behind a TLS-terminating proxy ----------------------------------------
 * The proxy (HAProxy or nginx; docs/moltd.md, "Behind a TLS proxy") ends TLS,
 * verifies a device's client certificate against the device CA and passes what
 * it verified in headers, as hawkBit's reverse-proxy certificate authentication
 * expects them: X-Ssl-Client-Cn (the certificate's CN, the controller id) and
 * X-Ssl-Issuer-Hash-1 (a value naming the CA that signed it). Anyone can send
 * those headers, so they count only from a --trusted-proxy address (the TCP
 * peer, not a header), and only with the configured issuer value. */
bool http_from_proxy(req_t *r)
{
    if (!r->srv->nproxies)
        return false;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET)
        return false;
    uint32_t peer = ((const struct sockaddr_in *)ci->client_addr)->sin_addr.s_addr;
    for (unsigned i = 0; i < r->srv->nproxies; i++)
        if (r->srv->proxies[i] == peer)
            return true;
    return false;
}

const char *http_scheme(req_t *r)
{
    const char *p = http_header(r, "X-Forwarded-Proto");
    return p && strcmp(p, "https") == 0 && http_from_proxy(r) ? "https" : "http";
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

/* The body limit of a request: packages, DDI feedback (suricatta sends its log), other JSON. */
static size_t body_limit(const req_t *r)
{
    bool feedback = route_is_ddi(r) && r->nseg >= 5 && strcmp(r->seg[r->nseg - 1], "feedback") == 0;
    return r->to_file ? r->srv->max_package : feedback ? r->srv->max_feedback : r->srv->max_json;
}

/* The headers are in: authenticate (from the headers alone, before any body
 * byte is read) and check the announced length. */
static enum MHD_Result on_headers(req_t *r)
{
    size_t limit = body_limit(r);
    bool refused = false;
    int ret = MHD_YES;
    if (route_is_mgmt(r)) {
        ret = mgmt_auth(r, &refused);
        if (!refused)
            ret = mgmt_precheck(r, &refused);
    } else if (route_is_ddi(r)) {
        bool cert = false;
        ret = ddi_cert_auth(r, &refused, &cert);
        if (!cert)
            ret = ddi_auth(r, &refused);
    }
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

/* A package upload's bytes go to a file in the artifact directory. */
static enum MHD_Result body_to_file(req_t *r, const char *upload, size_t n)
{
    moltd_t *srv = r->srv;
    if (r->fd < 0) {
        /* Named by host and process, so a restart (artifacts_reconcile) knows
         * which unfinished uploads are its own dead ones. */
        snprintf(r->tmp_path, sizeof r->tmp_path, "%s/.upload.%s.%ld.XXXXXX", srv->artifact_dir, srv->host,
                 (long)getpid());
        r->fd = mkstemp(r->tmp_path);
        if (r->fd < 0) {
            r->tmp_path[0] = '\0';
            r->store_errno = errno ? errno : EIO;
            return MHD_YES;
        }
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(r->fd, upload + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) { /* a full disk: keep reading, answer 507 with the cause at the end */
            r->store_errno = w < 0 ? errno : ENOSPC;
            return MHD_YES;
        }
        off += (size_t)w;
    }
    r->body_len += n;
    return MHD_YES;
}

/* One piece of the body: to the file, or kept in memory (JSON). */
static enum MHD_Result on_body(req_t *r, const char *upload, size_t n)
{
    size_t limit = body_limit(r);
    if (r->too_large || r->store_errno || n > limit - r->body_len) {
        r->too_large = !r->store_errno;
        return MHD_YES; /* read and drop the rest; 413 (or 507) at the end */
    }
    if (r->to_file)
        return body_to_file(r, upload, n);
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)version;
    req_t *r = *ctx;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *ctx = r;
        r->srv = cls;
        r->conn = conn;
        r->method = method;
        r->fd = -1;
        conn_deadline(conn, 0); /* the headers are in */
        split(r, url);
        r->to_file = strcmp(method, "POST") == 0 && r->nseg == 3 && route_is_mgmt(r) && strcmp(r->seg[2], "packages") == 0;
        return on_headers(r);
    }
    if (r->answered) {
        *upload_size = 0; /* refused from the headers: the rest is read and dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return on_body(r, upload, n);
    }
    if (r->store_errno)
        return (enum MHD_Result)http_error(r, r->store_errno == ENOSPC || r->store_errno == EDQUOT ? 507 : 500,
                                           "cannot store the upload: %s", strerror(r->store_errno));
    if (r->too_large)
        return (enum MHD_Result)http_error(r, 413, "body larger than %zu bytes", body_limit(r));
    return (enum MHD_Result)route_request(r);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode toe)
{
    moltd_t *srv = cls;
    (void)toe;
    conn_deadline(conn, now_ms() + (int64_t)srv->conn_timeout * 1000); /* the next request's headers */
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
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT, srv->conn_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->per_ip, MHD_OPTION_END);
    if (d && pthread_create(&watchdog, NULL, watchdog_main, NULL) == 0)
        watchdog_running = true;
    else if (d) {
        MHD_stop_daemon(d);
        d = NULL;
    }
    return d;
}

void http_stop(struct MHD_Daemon *d)
{
    MHD_stop_daemon(d);
    watchdog_stop = true;
    if (watchdog_running)
        pthread_join(watchdog, NULL);
}

uint16_t http_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
