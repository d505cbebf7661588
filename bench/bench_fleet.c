/*
 * bench_fleet.c - a fleet of simulated DDI devices in one process, for moltd's
 * campaign figures (scripts/bench-fleet.sh). Prints figures; never pass/fail.
 *
 *   bench_fleet [--ca-file CA.pem] PORTS TOKENS KEY.der THREADS POLL_S DEADLINE_S [FAIL_PCT [DROP_PCT]]
 *
 * PORTS is a comma-separated list of moltd ports on 127.0.0.1 (several instances:
 * devices are spread over them). TOKENS is a file of "controllerId token" lines.
 * Each device is a real DDI client: it polls its base resource at a random
 * moment of the first POLL_S seconds and every POLL_S seconds after; when the
 * poll links a deployment it fetches deploymentBase, downloads the artifact in
 * two Range requests (206 each), verifies the bytes through lib/'s molt_verify()
 * with KEY.der (the device's trusted key) and sends closed feedback: success, or
 * failure for FAIL_PCT percent of the devices (a failed health check, chosen with
 * a fixed seed) and for any image that does not verify. DROP_PCT percent of the
 * downloads lose their connection after the first half and resume with Range on
 * a new one. THREADS workers each own every THREADS-th device and one keep-alive
 * connection per port. A device's state is a few bytes in memory: nothing is
 * rewritten per device. A progress line goes to stderr every second; at the end
 * (every device closed, or DEADLINE_S) one line of figures: devices completed,
 * campaign time, devices/s, polls/s, poll and update latency p50/p99.
 *
 * --ca-file: the ports are a TLS-terminating proxy's (scripts/tls-proxy.sh):
 * every connection is TLS (OpenSSL), the server's certificate is verified
 * against CA.pem and must name 127.0.0.1; a connection that drops offers its
 * TLS session on the new one, as a device's TLS stack would (the figures line
 * counts handshakes and how many the server resumed).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "molt/verify.h"
#include "slurp.h"

#define MAX_DEV 200000
#define MAX_PORTS 8
#define BUF (1 << 20)

typedef struct device {
    char *id, *tok;
    double next;     /* next poll, seconds since start */
    double started;  /* when its deployment was first seen */
    uint8_t state;   /* 0 polling, 1 succeeded, 2 failed */
    bool fail;       /* injected health-check failure */
} device_t;

static device_t dev[MAX_DEV];
static size_t ndev;
static int ports[MAX_PORTS], nports;
static double t0, poll_s, deadline_s;
static unsigned drop_pct;
static molt_key_t key;
static pthread_mutex_t stat_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long polls, done_ok, done_fail, errors, drops, verify_bad;
static double last_done;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
}

static SSL_CTX *tls; /* --ca-file: HTTPS */
static unsigned long handshakes, resumed;

typedef struct conn {
    int fd, port;
    SSL *ssl;
    SSL_SESSION *sess; /* the last session, offered again on a reconnection */
} conn_t;

static void hang_up(conn_t *c)
{
    if (c->ssl) {
        /* TLS 1.3 tickets come after the handshake: keep the session now */
        SSL_SESSION *s = SSL_get1_session(c->ssl);
        if (s && SSL_SESSION_is_resumable(s)) {
            if (c->sess)
                SSL_SESSION_free(c->sess);
            c->sess = s;
        } else if (s)
            SSL_SESSION_free(s);
        /* without this, SSL_free of a connection not shut down marks its
         * session not resumable (OpenSSL's rule for failed connections) */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static bool dial(conn_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return false;
    }
    c->fd = fd;
    if (!tls)
        return true;
    c->ssl = SSL_new(tls);
    if (!c->ssl || !SSL_set_fd(c->ssl, fd) || !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") ||
        (c->sess && !SSL_set_session(c->ssl, c->sess)) || SSL_connect(c->ssl) != 1) {
        static int said;
        if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED)) {
            long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
            fprintf(stderr, "bench_fleet: TLS to port %d: %s\n", c->port,
                    v != X509_V_OK ? X509_verify_cert_error_string(v) : "handshake failed");
        }
        hang_up(c);
        return false;
    }
    __atomic_fetch_add(&handshakes, 1, __ATOMIC_RELAXED);
    if (SSL_session_reused(c->ssl))
        __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
    return true;
}

static ssize_t io_write(conn_t *c, const void *p, size_t n)
{
    if (!c->ssl)
        return write(c->fd, p, n);
    int w = SSL_write(c->ssl, p, (int)n);
    return w > 0 ? w : -1;
}

static ssize_t io_read(conn_t *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
    return r > 0 ? r : SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

/* One request on c (reconnecting once if the kept-alive connection was closed).
 * The body (Content-Length framed) lands in body[0..*blen). Returns the status or -1. */
static int request(conn_t *c, const char *method, const char *path, const device_t *d, const char *extra,
                   const char *data, char *buf, char *body, size_t *blen)
{
    char req[2048];
    int n = data ? snprintf(req, sizeof req,
                            "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: TargetToken %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            method, path, d->tok, strlen(data), data)
                 : snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: TargetToken %s\r\n%s\r\n",
                            method, path, d->tok, extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof req)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && !dial(c))
            return -1;
        if (io_write(c, req, (size_t)n) != n) {
            hang_up(c);
            continue;
        }
        size_t got = 0;
        char *end = NULL;
        ssize_t r = 1;
        while (!end && got < 8191 && (r = io_read(c, buf + got, 8191 - got)) > 0) {
            got += (size_t)r;
            buf[got] = '\0';
            end = strstr(buf, "\r\n\r\n");
        }
        if (!end) {
            hang_up(c);
            if (got == 0)
                continue; /* closed while idle: once more on a new connection */
            return -1;
        }
        int status = atoi(buf + 9);
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0, have = got - (size_t)(end + 4 - buf);
        if (len > BUF) {
            hang_up(c);
            return -1;
        }
        memcpy(body, end + 4, have);
        while (have < len) {
            r = io_read(c, body + have, len - have);
            if (r <= 0) {
                hang_up(c);
                return -1;
            }
            have += (size_t)r;
        }
        *blen = len;
        body[len < BUF ? len : BUF - 1] = '\0';
        return status;
    }
    return -1;
}

/* The path part of the first "href" after key in s (after "http://host"). */
static bool link_path(const char *s, const char *key, char *out, size_t cap)
{
    const char *k = strstr(s, key), *h = k ? strstr(k, "\"href\":\"") : NULL;
    if (!h)
        return false;
    h += 8;
    const char *p = strstr(h, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    const char *e = p ? strchr(p, '"') : NULL;
    if (!e || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static double *poll_lat, *upd_lat;
static size_t npoll_lat, cap_poll_lat, nupd_lat;

static void note_poll(double dt)
{
    pthread_mutex_lock(&stat_lock);
    polls++;
    if (npoll_lat == cap_poll_lat) {
        size_t cap = cap_poll_lat ? cap_poll_lat * 2 : 65536;
        double *p = realloc(poll_lat, cap * sizeof *p);
        if (p) {
            poll_lat = p;
            cap_poll_lat = cap;
        }
    }
    if (npoll_lat < cap_poll_lat)
        poll_lat[npoll_lat++] = dt;
    pthread_mutex_unlock(&stat_lock);
}

/* The update of device d, its deployment at path dep. */
static void update(conn_t *c, device_t *d, const char *dep, char *buf, char *body, uint8_t *img, unsigned *rng)
{
    size_t blen;
    char art[512], fb[640], path[512], range[64];
    int st = request(c, "GET", dep, d, NULL, NULL, buf, body, &blen);
    const char *sz = st == 200 ? strstr(body, "\"size\":") : NULL;
    if (!sz || !link_path(body, "\"download\"", art, sizeof art)) {
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return;
    }
    size_t size = strtoul(sz + 7, NULL, 10), half = size / 2;
    if (size == 0 || size > BUF) {
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return;
    }
    snprintf(range, sizeof range, "Range: bytes=0-%zu\r\n", half - 1);
    st = request(c, "GET", art, d, range, NULL, buf, (char *)img, &blen);
    if (st != 206 || blen != half) {
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return;
    }
    if (drop_pct && (unsigned)rand_r(rng) % 100 < drop_pct) { /* the connection drops: resume on a new one */
        hang_up(c);
        __atomic_fetch_add(&drops, 1, __ATOMIC_RELAXED);
    }
    snprintf(range, sizeof range, "Range: bytes=%zu-\r\n", half);
    st = request(c, "GET", art, d, range, NULL, buf, (char *)img + half, &blen);
    if (st != 206 || blen != size - half) {
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return;
    }
    molt_mem_source_t mem;
    molt_source_t src;
    molt_source_from_mem(&src, &mem, img, (uint32_t)size);
    molt_keyring_t ring = {&key, 1};
    molt_policy_t pol;
    molt_policy_default(&pol);
    /* lib/'s crypto backend (Mbed TLS PSA, built without threading) is one
     * context per process, as on a device: one verification at a time. */
    static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&verify_lock);
    bool good = molt_verify(&src, &ring, &pol, NULL) == MOLT_OK;
    pthread_mutex_unlock(&verify_lock);
    if (!good)
        __atomic_fetch_add(&verify_bad, 1, __ATOMIC_RELAXED);
    bool success = good && !d->fail;
    char *q = strchr(dep, '?');
    snprintf(path, sizeof path, "%.*s/feedback", q ? (int)(q - dep) : (int)strlen(dep), dep);
    snprintf(fb, sizeof fb, "{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"%s\"},\"details\":[\"%s\"]}}",
             success ? "success" : "failure", success ? "installed" : good ? "health check failed" : "does not verify");
    st = request(c, "POST", path, d, NULL, fb, buf, body, &blen);
    if (st != 200) {
        __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
        return;
    }
    double t = now();
    pthread_mutex_lock(&stat_lock);
    d->state = success ? 1 : 2;
    if (success)
        done_ok++;
    else
        done_fail++;
    last_done = t;
    upd_lat[nupd_lat++] = t - d->started;
    pthread_mutex_unlock(&stat_lock);
}

typedef struct worker {
    pthread_t t;
    size_t first, step;
} worker_t;

static void *run(void *arg)
{
    worker_t *w = arg;
    conn_t c[MAX_PORTS];
    for (int i = 0; i < nports; i++)
        c[i] = (conn_t){-1, ports[i], NULL, NULL};
    char *buf = malloc(8192), *body = malloc(BUF);
    uint8_t *img = malloc(BUF);
    unsigned rng = (unsigned)w->first * 2654435761u + 1;
    while (buf && body && img && now() < deadline_s) {
        /* the device of this worker due first */
        size_t best = SIZE_MAX;
        bool left = false;
        for (size_t i = w->first; i < ndev; i += w->step) {
            if (dev[i].state)
                continue;
            left = true;
            if (best == SIZE_MAX || dev[i].next < dev[best].next)
                best = i;
        }
        if (!left)
            break;
        double wait = dev[best].next - now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            if (wait > 0.05)
                ts = (struct timespec){0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        device_t *d = &dev[best];
        conn_t *cn = &c[best % (size_t)nports];
        char path[256], dep[512];
        size_t blen;
        snprintf(path, sizeof path, "/DEFAULT/controller/v1/%s", d->id);
        double a = now();
        int st = request(cn, "GET", path, d, NULL, NULL, buf, body, &blen);
        note_poll(now() - a);
        d->next += poll_s;
        if (st != 200) {
            __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (link_path(body, "\"deploymentBase\"", dep, sizeof dep)) {
            if (d->started == 0)
                d->started = a;
            update(cn, d, dep, buf, body, img, &rng);
        }
    }
    for (int i = 0; i < nports; i++) {
        hang_up(&c[i]);
        if (c[i].sess)
            SSL_SESSION_free(c[i].sess);
    }
    free(buf);
    free(body);
    free(img);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    return n ? v[(size_t)(p * (double)(n - 1))] * 1000 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--ca-file") == 0) {
        tls = SSL_CTX_new(TLS_client_method());
        if (!tls || SSL_CTX_load_verify_locations(tls, argv[2], NULL) != 1) {
            fprintf(stderr, "bench_fleet: %s: not a CA certificate file\n", argv[2]);
            return 2;
        }
        SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
        SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_CLIENT);
        argv += 2;
        argc -= 2;
    }
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: bench_fleet [--ca-file CA.pem] PORTS TOKENS KEY.der THREADS POLL_S DEADLINE_S [FAIL_PCT "
                        "[DROP_PCT]]\n");
        return 2;
    }
    for (char *p = argv[1]; *p && nports < MAX_PORTS;) {
        ports[nports++] = (int)strtol(p, &p, 10);
        if (*p == ',')
            p++;
    }
    FILE *f = fopen(argv[2], "r");
    size_t klen = 0;
    uint8_t *der = slurp(NULL, argv[3], &klen);
    if (!f || !der) {
        fprintf(stderr, "bench_fleet: cannot read %s or %s\n", argv[2], argv[3]);
        return 2;
    }
    key = (molt_key_t){der, klen};
    unsigned threads = (unsigned)atoi(argv[4]), fail_pct = argc > 7 ? (unsigned)atoi(argv[7]) : 0;
    drop_pct = argc > 8 ? (unsigned)atoi(argv[8]) : 0;
    poll_s = atof(argv[5]);
    deadline_s = atof(argv[6]);
    if (threads == 0 || threads > 256 || poll_s <= 0 || nports == 0) {
        fprintf(stderr, "bench_fleet: bad THREADS, POLL_S or PORTS\n");
        return 2;
    }
    char a[128], b[256];
    unsigned seed = 15;
    while (ndev < MAX_DEV && fscanf(f, "%127s %255s", a, b) == 2) {
        dev[ndev].id = strdup(a);
        dev[ndev].tok = strdup(b);
        dev[ndev].next = poll_s * (double)rand_r(&seed) / RAND_MAX;
        dev[ndev].fail = (unsigned)rand_r(&seed) % 100 < fail_pct;
        ndev++;
    }
    fclose(f);
    upd_lat = calloc(ndev + 1, sizeof *upd_lat);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    worker_t *w = calloc(threads, sizeof *w);
    for (unsigned i = 0; i < threads; i++) {
        w[i].first = i;
        w[i].step = threads;
        pthread_create(&w[i].t, NULL, run, &w[i]);
    }
    for (;;) {
        struct timespec s = {1, 0};
        nanosleep(&s, NULL);
        pthread_mutex_lock(&stat_lock);
        unsigned long ok = done_ok, bad = done_fail, p = polls;
        pthread_mutex_unlock(&stat_lock);
        fprintf(stderr, "\rbench_fleet: %5.0f s  polls %lu  updated %lu  failed %lu  of %zu  errors %lu  drops %lu ",
                now(), p, ok, bad, ndev, errors, drops);
        if (ok + bad >= ndev || now() >= deadline_s)
            break;
    }
    fputc('\n', stderr);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(w[i].t, NULL);
    qsort(poll_lat, npoll_lat, sizeof *poll_lat, cmp);
    qsort(upd_lat, nupd_lat, sizeof *upd_lat, cmp);
    double end = now();
    printf("fleet %zu devices, %d port%s, poll %.0f s: %lu updated, %lu failed (%u%% injected), %zu left; campaign "
           "%.1f s; %.1f devices/s; %.0f polls/s; poll p50 %.1f ms p99 %.1f ms; update p50 %.0f ms p99 %.0f ms; "
           "%lu drops resumed; %lu not verified; %lu errors",
           ndev, nports, nports > 1 ? "s" : "", poll_s, done_ok, done_fail, fail_pct, ndev - done_ok - done_fail,
           last_done, last_done > 0 ? (double)(done_ok + done_fail) / last_done : 0.0,
           end > 0 ? (double)polls / end : 0.0, pct(poll_lat, npoll_lat, 0.5), pct(poll_lat, npoll_lat, 0.99),
           pct(upd_lat, nupd_lat, 0.5), pct(upd_lat, nupd_lat, 0.99), drops, verify_bad, errors);
    if (tls)
        printf("; TLS: %lu handshakes, %lu resumed", handshakes, resumed);
    printf("\n");
    return 0;
}
