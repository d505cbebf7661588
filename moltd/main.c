/*
 * main.c - moltd: options, start-up and shutdown. See docs/moltd.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "molt_host/util.h"
#include "moltd.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moltd [options]\n"
            "  --db URL                 sqlite:PATH (default sqlite:moltd.db) or postgresql://USER@HOST:PORT/DB\n"
            "  --listen ADDR            IPv4 address to bind (default 127.0.0.1: loopback only)\n"
            "  --port N                 TCP port (default 8080; 0 picks a free one)\n"
            "  --artifact-dir DIR       content-addressed package store (default ./artifacts)\n"
            "  --artifact-base-url URL  answer downloads with 302 to URL/<sha256> (a static server or CDN)\n"
            "  --admin-token-file FILE  the bootstrap admin token (else $MOLTD_ADMIN_TOKEN)\n"
            "  --tenant NAME            DDI tenant (default DEFAULT)\n"
            "  --poll-sleep SECONDS     config.polling.sleep served to devices (default 300)\n"
            "  --max-json BYTES         body limit of JSON requests (default 65536)\n"
            "  --max-feedback BYTES     body limit of DDI feedback (default 1048576)\n"
            "  --test-accept-unverified-swu  TEST ONLY: store swu packages without checking them\n"
            "  --max-package BYTES      body limit of package uploads (default 67108864)\n"
            "  --threads N              HTTP worker threads (default 4)\n"
            "  --per-ip-connections N   connections one client address may hold (default 64; 0: no limit)\n"
            "  --header-timeout S       seconds a new connection has to send its request headers (default 10)\n"
            "  --trusted-proxy ADDR     a TLS-terminating proxy's IPv4 address (repeatable): only from there\n"
            "                           are X-Forwarded-Proto and the client-certificate headers believed\n"
            "  --client-cert-issuer V   device authentication by client certificate (hawkBit's reverse-proxy\n"
            "                           mode): a request from a trusted proxy with X-Ssl-Client-Cn and\n"
            "                           X-Ssl-Issuer-Hash-1 equal to V is the device the CN names\n"
            "  --attest-ttl SECONDS     lifetime of an attestation challenge (default 300)\n"
            "  --kek-file FILE          key-encryption key (64 hex digits) that wraps the content keys of\n"
            "                           encrypted packages; without it encrypted uploads are refused\n"
            "  --ticket-key FILE        PEM ECDSA P-256 private key that signs deferral tickets (R-AVAIL);\n"
            "                           a key of its own, never an image signer's; without it tickets get 503\n");
}

#include <stdarg.h>
__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "moltd: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static bool parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

/* The bootstrap admin token: a file (first line) or the environment; only its
 * hash is kept. 0, or die()'s exit status. */
static int admin_token(moltd_t *srv, const char *tokfile)
{
    char tok[256] = "";
    if (tokfile) {
        FILE *f = fopen(tokfile, "r");
        if (!f)
            return die("%s: %s", tokfile, strerror(errno));
        if (!fgets(tok, sizeof tok, f))
            tok[0] = '\0';
        fclose(f);
        tok[strcspn(tok, "\r\n")] = '\0';
    } else if (getenv("MOLTD_ADMIN_TOKEN")) {
        snprintf(tok, sizeof tok, "%s", getenv("MOLTD_ADMIN_TOKEN"));
    }
    if (strlen(tok) < 16)
        return die("a bootstrap admin token of at least 16 characters is required"
                   " (--admin-token-file FILE or MOLTD_ADMIN_TOKEN)");
    sha256_hex(tok, strlen(tok), srv->admin_hash);
    memset(tok, 0, sizeof tok);
    return 0;
}

/* The KEK, the database (migrated to the latest schema), the artifact
 * directory and the ticket key. 0, or the exit status after saying why. */
static int open_store(moltd_t *srv, const char *db_url, const char *kekfile, const char *ticketfile, int *ver)
{
    char why[512];
    host_set_context("moltd", NULL);
    if (kekfile && !kek_load(srv, kekfile, why, sizeof why))
        return die("%s", why);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->pool_lock, NULL);
    pthread_mutex_init(&srv->write_lock, NULL);
    pthread_mutex_init(&srv->crypto_lock, NULL);
    srv->db = db_open(db_url, why, sizeof why);
    srv->db_url = db_url;
    srv_db_bind_main(srv);
    if (!srv->db)
        return die("%s", why);
    if (mkdir(srv->artifact_dir, 0750) != 0 && errno != EEXIST) {
        srv->db->drv->close(srv->db);
        return die("%s: %s", srv->artifact_dir, strerror(errno));
    }
    *ver = db_migrate(srv->db);
    if (*ver < 0) {
        die("schema migration failed: %s", srv->db->err);
        srv->db->drv->close(srv->db);
        return 2;
    }
    if (!kek_check(srv, why, sizeof why) || (ticketfile && !ticket_key_load(srv, ticketfile, why, sizeof why)) ||
        !ticket_key_check(srv, why, sizeof why)) {
        srv->db->drv->close(srv->db);
        ticket_key_free(srv);
        return die("%s", why);
    }
    return 0;
}

/* Reconcile the store, serve until SIGINT or SIGTERM, close everything. */
static int serve(moltd_t *srv, const char *listen, unsigned long long port, unsigned threads, int ver)
{
    if (srv->test_unverified_swu)
        fprintf(stderr, "moltd: TEST MODE: swu uploads are stored without their signature and hash checks\n");
    srv->conn_timeout = 30;
    if (gethostname(srv->host, sizeof srv->host) != 0 || !valid_name(srv->host, sizeof srv->host - 1))
        snprintf(srv->host, sizeof srv->host, "localhost");
    artifacts_reconcile(srv);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* worker threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = last_seen_start(srv) ? http_start(srv, listen, (uint16_t)port, threads) : NULL;
    if (!d) {
        last_seen_stop(srv);
        srv_db_close_all(srv);
        srv->db->drv->close(srv->db);
        ticket_key_free(srv);
        return die("cannot listen on %s port %llu (in use, or not an IPv4 address)", listen, port);
    }
    printf("moltd: listening on http://%s:%u (%s database, schema %d)\n", listen, http_port(d), srv->db->drv->name,
           ver);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    http_stop(d);
    last_seen_stop(srv);
    srv_db_close_all(srv);
    srv->db->drv->close(srv->db);
    ticket_key_free(srv);
    pthread_mutex_destroy(&srv->lock);
    printf("moltd: stopped\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *db_url = "sqlite:moltd.db", *listen = "127.0.0.1", *tokfile = NULL, *kekfile = NULL,
               *ticketfile = NULL;
    unsigned long long port = 8080, sleep_s = 300, max_json = 65536, max_pkg = 64ull << 20, threads = 4, attest_ttl = 300,
                       per_ip = 64, header_timeout = 10, max_fb = 1u << 20;
    bool test_unverified_swu = false;
    moltd_t srv = {.artifact_dir = "artifacts", .tenant = "DEFAULT"};
    enum { O_DB = 256, O_LISTEN, O_PORT, O_ADIR, O_AURL, O_TOK, O_TENANT, O_SLEEP, O_MJ, O_MP, O_THR, O_ATTL, O_KEK, O_PERIP, O_HDRT, O_TKEY, O_MFB, O_TUSWU, O_PROXY, O_ISSUER };
    static const struct option opts[] = {
        {"db", required_argument, 0, O_DB},           {"listen", required_argument, 0, O_LISTEN},
        {"port", required_argument, 0, O_PORT},       {"artifact-dir", required_argument, 0, O_ADIR},
        {"artifact-base-url", required_argument, 0, O_AURL}, {"admin-token-file", required_argument, 0, O_TOK},
        {"tenant", required_argument, 0, O_TENANT},   {"poll-sleep", required_argument, 0, O_SLEEP},
        {"max-json", required_argument, 0, O_MJ},     {"max-package", required_argument, 0, O_MP},
        {"max-feedback", required_argument, 0, O_MFB}, {"test-accept-unverified-swu", no_argument, 0, O_TUSWU},
        {"threads", required_argument, 0, O_THR},     {"attest-ttl", required_argument, 0, O_ATTL},
        {"kek-file", required_argument, 0, O_KEK},
        {"per-ip-connections", required_argument, 0, O_PERIP}, {"header-timeout", required_argument, 0, O_HDRT},
        {"ticket-key", required_argument, 0, O_TKEY},
        {"trusted-proxy", required_argument, 0, O_PROXY}, {"client-cert-issuer", required_argument, 0, O_ISSUER},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_DB: db_url = optarg; break;
        case O_LISTEN: listen = optarg; break;
        case O_PORT: ok = parse_num(optarg, 65535, &port); break;
        case O_ADIR: srv.artifact_dir = optarg; break;
        case O_AURL: srv.artifact_base_url = optarg; break;
        case O_TOK: tokfile = optarg; break;
        case O_TENANT: srv.tenant = optarg; ok = valid_name(optarg, 64); break;
        case O_SLEEP: ok = parse_num(optarg, 86399, &sleep_s) && sleep_s > 0; break;
        case O_MJ: ok = parse_num(optarg, 1ull << 30, &max_json) && max_json >= 1024; break;
        case O_MP: ok = parse_num(optarg, 1ull << 32, &max_pkg) && max_pkg >= 1024; break;
        case O_MFB: ok = parse_num(optarg, 1ull << 30, &max_fb) && max_fb >= 1024; break;
        case O_TUSWU: test_unverified_swu = true; break;
        case O_THR: ok = parse_num(optarg, 64, &threads) && threads > 0; break;
        case O_ATTL: ok = parse_num(optarg, 86400, &attest_ttl) && attest_ttl > 0; break;
        case O_KEK: kekfile = optarg; break;
        case O_PERIP: ok = parse_num(optarg, 4096, &per_ip); break;
        case O_HDRT: ok = parse_num(optarg, 300, &header_timeout) && header_timeout > 0; break;
        case O_TKEY: ticketfile = optarg; break;
        case O_PROXY: {
            struct in_addr ia;
            ok = srv.nproxies < sizeof srv.proxies / sizeof *srv.proxies && inet_pton(AF_INET, optarg, &ia) == 1;
            if (ok)
                srv.proxies[srv.nproxies++] = ia.s_addr;
            break;
        }
        case O_ISSUER:
            srv.cert_issuer = optarg;
            ok = *optarg && strlen(optarg) <= 256 && strspn(optarg, "0123456789abcdefABCDEF:") == strlen(optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok)
            return die("%s: bad value for --%s", optarg, opts[c - O_DB].name);
    }
    if (optind != argc)
        return die("unexpected argument %s", argv[optind]);
    if (srv.cert_issuer && !srv.nproxies)
        return die("--client-cert-issuer needs --trusted-proxy (the address the certificate headers may come from)");

    int ver = 0, rc = admin_token(&srv, tokfile);
    if (rc != 0 || (rc = open_store(&srv, db_url, kekfile, ticketfile, &ver)) != 0)
        return rc;
    srv.poll_sleep = (unsigned)sleep_s;
    srv.max_json = (size_t)max_json;
    srv.max_package = (size_t)max_pkg;
    srv.max_feedback = (size_t)max_fb;
    srv.test_unverified_swu = test_unverified_swu;
    srv.attest_ttl = (unsigned)attest_ttl;
    srv.per_ip = (unsigned)per_ip;
    srv.header_timeout = (unsigned)header_timeout;
    return serve(&srv, listen, port, (unsigned)threads, ver);
}
