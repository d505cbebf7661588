/*
 * bench_ddi_poll.c - a small HTTP/1.1 load generator for moltd's DDI base poll.
 *
 *   bench_ddi_poll PORT TOKENS CONNECTIONS SECONDS [HELD[,HELD...]]
 *
 * TOKENS is a file of "controllerId token" lines. CONNECTIONS threads each keep
 * one connection alive and poll devices from the list in turn
 * (GET /DEFAULT/controller/v1/{id}, Authorization: TargetToken ...) for SECONDS.
 * HELD extra connections (held connection i polls device i) first poll once each
 * and then stay open and idle for the whole run, like a fleet of devices between
 * polls; afterwards each polls once more. Several increasing HELD counts make a
 * ramp in one process: each step opens the connections it adds, runs, re-polls
 * every held connection, and the ramp stops after the first step in which one was
 * not served. Held polls are spread over CONNECTIONS threads. Prints figures only,
 * one line per run: requests per second, latency percentiles, answers other than
 * 200, and how many held connections were served. Never pass/fail on time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEV 100000
#define MAX_STEPS 16

static char *ids[MAX_DEV], *toks[MAX_DEV];
static size_t ndev;
static int port;
static double deadline;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One poll on fd; returns the HTTP status, or -1 if the connection failed. */
static int poll_once(int fd, size_t dev, char *buf, size_t cap)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /DEFAULT/controller/v1/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: TargetToken %s\r\nAccept: application/hal+json\r\n\r\n",
                     ids[dev], toks[dev]);
    if (write(fd, req, (size_t)n) != n)
        return -1;
    size_t got = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strstr(buf, "\r\nContent-Length:");
    size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0, have = got - (size_t)(hdr_end + 4 - buf);
    while (have < body) {
        ssize_t r = read(fd, buf, cap < body - have ? cap : body - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return status;
}

typedef struct worker {
    pthread_t t;
    size_t first;
    unsigned long ok, other, errors;
    double *lat;
    size_t nlat, cap;
} worker_t;

static void *run(void *arg)
{
    worker_t *w = arg;
    char buf[16384];
    int fd = dial();
    size_t dev = w->first;
    while (now() < deadline) {
        if (fd < 0 && (fd = dial()) < 0) {
            w->errors++;
            continue;
        }
        double t0 = now();
        int st = poll_once(fd, dev, buf, sizeof buf);
        double dt = now() - t0;
        if (st < 0) {
            w->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        if (st == 200)
            w->ok++;
        else
            w->other++;
        if (w->nlat == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        }
        w->lat[w->nlat++] = dt;
        dev = (dev + 1) % ndev;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Held connections [lo, hi): dial those not yet open (open[i] == 0) and poll each
 * once; a connection that fails or answers other than 200 is closed (fd -1). */
typedef struct held {
    pthread_t t;
    int *fd;
    char *opened;
    size_t lo, hi;
    int served;
} held_t;

static void *held_poll(void *arg)
{
    held_t *h = arg;
    char buf[16384];
    for (size_t i = h->lo; i < h->hi; i++) {
        if (!h->opened[i]) {
            h->opened[i] = 1;
            h->fd[i] = dial();
        }
        if (h->fd[i] < 0)
            continue;
        if (poll_once(h->fd[i], i % ndev, buf, sizeof buf) == 200) {
            h->served++;
        } else {
            close(h->fd[i]);
            h->fd[i] = -1;
        }
    }
    return NULL;
}

/* Poll held connections [lo, hi) with n threads; returns how many answered 200. */
static int held_round(int *fd, char *opened, size_t lo, size_t hi, int n)
{
    held_t h[64];
    if (n > 64)
        n = 64;
    int served = 0;
    for (int i = 0; i < n; i++) {
        h[i] = (held_t){.fd = fd, .opened = opened, .lo = lo + (hi - lo) * (size_t)i / (size_t)n,
                        .hi = lo + (hi - lo) * (size_t)(i + 1) / (size_t)n};
        pthread_create(&h[i].t, NULL, held_poll, &h[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(h[i].t, NULL);
        served += h[i].served;
    }
    return served;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One measured run of SECONDS over conns connections; prints its line (without newline). */
static void measure(int conns, double secs)
{
    worker_t *w = calloc((size_t)conns, sizeof *w);
    double t0 = now();
    deadline = t0 + secs;
    for (int i = 0; i < conns; i++) {
        w[i].first = (size_t)i * ndev / (size_t)conns;
        pthread_create(&w[i].t, NULL, run, &w[i]);
    }
    unsigned long ok = 0, other = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].t, NULL);
        ok += w[i].ok;
        other += w[i].other;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    double el = now() - t0;
    double *lat = malloc((nlat + 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(lat + k, w[i].lat, w[i].nlat * sizeof *lat);
        k += w[i].nlat;
        free(w[i].lat);
    }
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("connections %3d  devices %5zu  polls %8lu in %.1f s  %8.0f polls/s  p50 %.2f ms  p99 %.2f ms"
           "  non-200 %lu  errors %lu",
           conns, ndev, ok + other, el, (double)(ok + other) / el, nlat ? lat[nlat / 2] * 1e3 : 0.0,
           nlat ? lat[nlat * 99 / 100] * 1e3 : 0.0, other, errors);
    free(lat);
    free(w);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_ddi_poll PORT TOKENS CONNECTIONS SECONDS [HELD[,HELD...]]\n");
        return 2;
    }
    port = atoi(argv[1]);
    int conns = atoi(argv[3]);
    double secs = atof(argv[4]);
    size_t steps[MAX_STEPS], nsteps = 0;
    bool bad = false;
    for (const char *p = argc > 5 ? argv[5] : ""; *p && nsteps < MAX_STEPS;) {
        char *end;
        long h = strtol(p, &end, 10);
        if (end == p || h < 1 || h > 1000000 || (nsteps && (size_t)h <= steps[nsteps - 1]) || (*end && *end != ',')) {
            bad = true;
            break;
        }
        steps[nsteps++] = (size_t)h;
        p = *end ? end + 1 : end;
    }
    FILE *f = fopen(argv[2], "r");
    char id[128], tok[256];
    while (f && ndev < MAX_DEV && fscanf(f, "%127s %255s", id, tok) == 2) {
        ids[ndev] = strdup(id);
        toks[ndev] = strdup(tok);
        ndev++;
    }
    if (f)
        fclose(f);
    if (ndev == 0 || conns < 1 || secs <= 0 || bad) {
        fprintf(stderr, "bench_ddi_poll: no devices in %s, or bad arguments (HELD: increasing counts, comma-separated)\n",
                argv[2]);
        return 2;
    }
    if (nsteps == 0) {
        measure(conns, secs);
        printf("\n");
        return 0;
    }
    /* The idle fleet, grown step by step: the connections a step adds poll once, the
     * run goes on while all of them stay open, then every held connection polls again. */
    size_t top = steps[nsteps - 1], open = 0;
    int *hfd = calloc(top, sizeof *hfd), served = 0;
    char *opened = calloc(top, 1);
    for (size_t s = 0; s < nsteps; s++) {
        served += held_round(hfd, opened, open, steps[s], conns);
        open = steps[s];
        measure(conns, secs);
        int still = held_round(hfd, opened, 0, open, conns);
        printf("  held %zu: %d served before, %d after\n", open, served, still);
        fflush(stdout);
        if ((size_t)served != open || (size_t)still != open)
            break;
        served = still;
    }
    for (size_t i = 0; i < open; i++)
        if (hfd[i] >= 0)
            close(hfd[i]);
    free(hfd);
    free(opened);
    return 0;
}
