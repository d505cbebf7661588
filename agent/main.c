/*
 * main.c - molt-agent: the device side of a deployment (docs/agent.md).
 *
 *   molt-agent -f DEV -k PUB [-k PUB ...] --server URL --id ID --token TOKEN
 *              [--tenant T] [--once | --max-polls N] [--health-cmd CMD | --health-fail]
 *              [--until-update] [--drop-after BYTES] [--power-cut-at N] [--backoff-ms MS]
 *              [--max-sleep S] [--max-errors N] [--rate BYTES_PER_S] [--quiet] [--events FILE|-]
 *              [--enc-key ENC_PRIV ...] [--envelope-dir DIR] [--require-encryption]
 *              [--tickets] [--time-scale N] [--block drop|ignore]
 *              [--artifact NAME] [--defer-attempt] [--consent yes|no]
 *              [--ca-file CA] [--client-cert CERT [--client-key KEY]]
 *
 * The process is the device: starting it is a power-on (the boot code runs,
 * through the device adapter: dev_sim.c on a `molt sim` device file), then it
 * speaks the hawkBit DDI API to moltd with its TargetToken (ddi.c), polls the
 * base resource and sleeps as config.polling.sleep says, and carries out what
 * a poll offers (poll.c, driver.c): the user message first (R-NOTIFY), the
 * download in a thread of its own (download.c, R-BACKGROUND), finish
 * (verification), install, a restart that activates the image as a trial, a
 * health check (health.c), accept or reject, feedback with details, and a
 * fresh attestation token (R-ATTEST). Errors back off exponentially with
 * jitter. --events writes an NDJSON event stream (events.c).
 *
 * This file: the options, the set-up, the poll loop and its back-off.
 * Exit: 0 done (--once / --max-polls / --until-update reached, or --help),
 * 2 usage or device file error, 3 the simulated power cut happened, 4 the
 * server could not be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "agent.h"
#include "molt/keyrot.h"
#include "molt_host/util.h"

#define MAX_KEYS 8
#define MAX_ENC 3

void say(const agent_t *a, const char *fmt, ...)
{
    if (a->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", a->id);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "molt-agent: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_USAGE;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Exponential back-off with jitter: base * 2^n, capped, times a random factor in [0.5, 1). */
static void backoff(agent_t *a)
{
    unsigned n = a->failures < 10 ? a->failures : 10;
    long cap = (a->max_sleep > 0 ? a->max_sleep : 300) * 1000L;
    long ms = a->backoff_ms << n;
    if (ms > cap || ms <= 0)
        ms = cap;
    uint32_t r = 0;
    (void)RAND_bytes((unsigned char *)&r, sizeof r);
    ms = ms / 2 + (long)(((uint64_t)(ms / 2) * r) >> 32); /* r / 2^32 < 1: [0.5, 1) */
    a->failures++;
    say(a, "back-off %ld ms (error %u in a row)", ms, a->failures);
    ev(a, "backoff", "{s:I,s:i}", "ms", (json_int_t)ms, "errors", (int)a->failures);
    sleep_ms(ms);
}

static bool load_key(const char *path, molt_key_t *k)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!key)
        return false;
    unsigned char *der = NULL;
    int n = EVP_PKEY_is_a(key, "RSA") ? i2d_PublicKey(key, &der) : i2d_PUBKEY(key, &der);
    EVP_PKEY_free(key);
    if (n <= 0)
        return false;
    k->der = der;
    k->der_len = (size_t)n;
    return true;
}

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: molt-agent -f DEV -k PUB [-k PUB ...] --server URL --id ID --token TOKEN [--tenant T]\n"
            "                  [--once | --max-polls N] [--until-update] [--health-cmd CMD | --health-fail]\n"
            "                  [--drop-after BYTES] [--power-cut-at N] [--backoff-ms MS] [--max-sleep S]\n"
            "                  [--max-errors N] [--rate BYTES_PER_S] [--quiet] [--events FILE|-]\n"
            "                  [--enc-key ENC_PRIV ...] [--envelope-dir DIR] [--require-encryption]\n"
            "                  [--tickets] [--time-scale N] [--block drop|ignore]\n"
            "                  [--artifact NAME] [--defer-attempt] [--consent yes|no]\n"
            "                  [--ca-file CA.pem] [--client-cert CERT.pem [--client-key KEY.pem]]\n"
            "                  [--root ROOT_PUB ... --threshold T]\n"
            "  (--root, --threshold: the rotation keys of DEV.chain's key set; key-updates then install)\n"
            "  (--client-cert: the device authenticates by certificate; --token is then optional)\n"
            "  (--events: one JSON object per line for every step, to FILE or - for stdout; docs/agent.md)\n");
    return rc;
}

static bool num(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* What the options collect besides the agent's own fields. */
typedef struct opts {
    molt_key_t keys[MAX_KEYS];
    molt_keyring_t ring;
    molt_key_t roots[MOLT_KEYROT_MAX_SIG * 4];
    molt_keyring_t root_ring;
    long threshold;
    const char *enc_keys[MAX_ENC];
    int nenc;
    ddi_tls_t tls;
    const char *events;
    bool help;
} opts_t;

enum { O_SERVER = 256, O_ID, O_TOKEN, O_TENANT, O_ONCE, O_MAXP, O_HCMD, O_HFAIL, O_DROP, O_CUT, O_BACK, O_MSLEEP,
       O_QUIET, O_UNTIL, O_MAXERR, O_RATE, O_ENCKEY, O_ENVDIR, O_REQENC, O_TICKETS, O_TSCALE, O_BLOCK, O_ART,
       O_DEFER, O_CONSENT, O_CAFILE, O_CCERT, O_CKEY, O_EVENTS, O_HELP, O_ROOT, O_THR };

static const struct option long_opts[] = {
    {"file", required_argument, 0, 'f'},         {"key", required_argument, 0, 'k'},
    {"server", required_argument, 0, O_SERVER},  {"id", required_argument, 0, O_ID},
    {"token", required_argument, 0, O_TOKEN},    {"tenant", required_argument, 0, O_TENANT},
    {"once", no_argument, 0, O_ONCE},            {"max-polls", required_argument, 0, O_MAXP},
    {"health-cmd", required_argument, 0, O_HCMD}, {"health-fail", no_argument, 0, O_HFAIL},
    {"drop-after", required_argument, 0, O_DROP}, {"power-cut-at", required_argument, 0, O_CUT},
    {"backoff-ms", required_argument, 0, O_BACK}, {"max-sleep", required_argument, 0, O_MSLEEP},
    {"quiet", no_argument, 0, O_QUIET},          {"until-update", no_argument, 0, O_UNTIL},
    {"max-errors", required_argument, 0, O_MAXERR}, {"rate", required_argument, 0, O_RATE},
    {"enc-key", required_argument, 0, O_ENCKEY},  {"envelope-dir", required_argument, 0, O_ENVDIR},
    {"require-encryption", no_argument, 0, O_REQENC},
    {"tickets", no_argument, 0, O_TICKETS},      {"time-scale", required_argument, 0, O_TSCALE},
    {"block", required_argument, 0, O_BLOCK},
    {"artifact", required_argument, 0, O_ART},   {"defer-attempt", no_argument, 0, O_DEFER},
    {"consent", required_argument, 0, O_CONSENT},
    {"ca-file", required_argument, 0, O_CAFILE}, {"client-cert", required_argument, 0, O_CCERT},
    {"client-key", required_argument, 0, O_CKEY}, {"events", required_argument, 0, O_EVENTS},
    {"root", required_argument, 0, O_ROOT},     {"threshold", required_argument, 0, O_THR},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0}};

/* The options with a number: 0 done, else the exit code (an error was printed). */
static int opt_number(agent_t *a, int c, const char *arg)
{
    long v;
    switch (c) {
    case O_MAXP: return num(arg, 1, 1000000, &a->max_polls) ? 0 : die("--max-polls: a number from 1");
    case O_DROP:
        if (!num(arg, 1, 1L << 40, &v))
            return die("--drop-after: a number of bytes from 1");
        a->drop_after = (uint64_t)v;
        return 0;
    case O_CUT: return num(arg, 0, 1000000, &a->power_cut_at) ? 0 : die("--power-cut-at: a flash operation number from 0");
    case O_BACK: return num(arg, 1, 600000, &a->backoff_ms) ? 0 : die("--backoff-ms: 1 to 600000");
    case O_MSLEEP: return num(arg, 1, 86400, &a->max_sleep) ? 0 : die("--max-sleep: 1 to 86400 seconds");
    case O_RATE: return num(arg, 1, 1L << 40, &a->rate) ? 0 : die("--rate: bytes per second, from 1");
    case O_TSCALE:
        return num(arg, 0, 1000000, &a->time_scale) ? 0 : die("--time-scale: device seconds per second, 0 to 1000000");
    case O_MAXERR: return num(arg, 1, 1000000, &a->max_errors) ? 0 : die("--max-errors: a number from 1");
    default: return -1;
    }
}

/* The options with a choice or a file: 0 done, -1 not one of them, else the exit code. */
static int opt_choice(agent_t *a, opts_t *o, int c, const char *arg)
{
    switch (c) {
    case 'k':
        if (o->ring.count >= MAX_KEYS)
            return die("at most %d keys", MAX_KEYS);
        if (!load_key(arg, &o->keys[o->ring.count]))
            return die("%s: not a PEM public key", arg);
        o->ring.count++;
        return 0;
    case O_ROOT:
        if (o->root_ring.count >= sizeof o->roots / sizeof *o->roots)
            return die("at most %zu --root keys", sizeof o->roots / sizeof *o->roots);
        if (!load_key(arg, &o->roots[o->root_ring.count]))
            return die("%s: not a PEM public key", arg);
        o->root_ring.count++;
        return 0;
    case O_THR:
        return num(arg, 1, MOLT_KEYROT_MAX_SIG, &o->threshold) ? 0 : die("--threshold: 1 to %u", MOLT_KEYROT_MAX_SIG);
    case O_ENCKEY:
        if (o->nenc >= MAX_ENC)
            return die("at most 3 --enc-key (one P-256, one X25519, one RSA-2048)");
        o->enc_keys[o->nenc++] = arg;
        return 0;
    case O_BLOCK:
        if (strcmp(arg, "drop") != 0 && strcmp(arg, "ignore") != 0)
            return die("--block: drop or ignore, got '%s'", arg);
        a->block = strcmp(arg, "drop") == 0 ? 1 : 2;
        return 0;
    case O_CONSENT:
        if (strcmp(arg, "yes") && strcmp(arg, "no"))
            return die("--consent: yes or no");
        a->consent_no = strcmp(arg, "no") == 0;
        return 0;
    default: return -1;
    }
}

/* The options that only set a field: true if c was one of them. */
static bool opt_plain(agent_t *a, opts_t *o, int c, const char *arg)
{
    switch (c) {
    case 'f': a->file = arg; break;
    case O_SERVER: a->server = arg; break;
    case O_ID: a->id = arg; break;
    case O_TOKEN: a->token = arg; break;
    case O_TENANT: a->tenant = arg; break;
    case O_ONCE: a->once = true; break;
    case O_HCMD: a->health_cmd = arg; break;
    case O_HFAIL: a->health_fail = true; break;
    case O_QUIET: a->quiet = true; break;
    case O_UNTIL: a->until_update = true; break;
    case O_ENVDIR: a->env_dir = arg; break;
    case O_REQENC: a->require_enc = true; break;
    case O_TICKETS: a->tickets = true; break;
    case O_ART: a->artifact = arg; break;
    case O_DEFER: a->defer_attempt = true; break;
    case O_CAFILE: o->tls.ca_file = arg; break;
    case O_CCERT: o->tls.cert = arg; break;
    case O_CKEY: o->tls.key = arg; break;
    case O_EVENTS: o->events = arg; break;
    case 'h':
    case O_HELP: o->help = true; break;
    default: return false;
    }
    return true;
}

/* Parse and check the options: 0, or the exit code. */
static int parse_opts(agent_t *a, opts_t *o, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, "f:k:h", long_opts, NULL)) != -1) {
        if (opt_plain(a, o, c, optarg))
            continue;
        int rc = opt_number(a, c, optarg);
        if (rc < 0)
            rc = opt_choice(a, o, c, optarg);
        if (rc < 0)
            return usage(stderr, EXIT_USAGE);
        if (rc)
            return rc;
        if (o->help)
            break;
    }
    if (o->help)
        return usage(stdout, -1);
    if (optind != argc || !a->file || !a->server || !a->id || (!a->token && !o->tls.cert))
        return usage(stderr, EXIT_USAGE);
    if (o->tls.key && !o->tls.cert)
        return die("--client-key needs --client-cert");
    const char *files[] = {o->tls.ca_file, o->tls.cert, o->tls.key};
    for (int i = 0; i < 3; i++)
        if (files[i] && access(files[i], R_OK) != 0)
            return die("%s: %s", files[i], strerror(errno));
    if (o->ring.count == 0)
        return die("-k PUB is required (the device's trusted signing keys)");
    if ((o->root_ring.count == 0) != (o->threshold == 0))
        return die("--root and --threshold go together (the rotation keys of the device's key set)");
    if ((a->env_dir || a->require_enc) && o->nenc == 0)
        return die("%s needs --enc-key (the device's decryption key)", a->env_dir ? "--envelope-dir" : "--require-encryption");
    if (o->events && !ev_open(o->events))
        return die("%s: %s", o->events, strerror(errno));
    return 0;
}

/* The device (through its adapter) and its envelopes. */
static int setup_device(agent_t *a, opts_t *o)
{
    static char env_dir[1100];
    o->ring.keys = o->keys;
    o->root_ring.keys = o->roots;
    dev_sim_opts_t so = {a->file, &o->ring, o->enc_keys, o->nenc, a->require_enc,
                         o->root_ring.count ? &o->root_ring : NULL, (uint32_t)o->threshold};
    int rc = dev_sim_open(&a->dev, &so);
    if (rc)
        return rc;
    a->has_ks = a->dev.set_envelopes != NULL;
    if (a->has_ks) {
        if (!a->env_dir) {
            snprintf(env_dir, sizeof env_dir, "%s.envelopes", a->file);
            a->env_dir = env_dir;
        }
        rc = env_load_dir(a);
        if (rc)
            return rc;
    }
    if (a->tickets && a->dev.awdt_nonce == NULL)
        return die("%s: --tickets needs a provisioned watchdog (molt sim watchdog)", a->file);
    return 0;
}

/* Poll until the run's bound; an exit code. */
static int run(agent_t *a)
{
    int rc = power_on(a, false, "power_on");
    for (long polls = 0; rc == 0 && (a->max_polls < 0 || polls < a->max_polls);) {
        long sleep_s = 300;
        bool error = false;
        rc = poll_once(a, &sleep_s, &error);
        if (rc)
            break;
        if (error) {
            if (a->max_polls > 0 && (long)a->failures + 1 >= a->max_errors) {
                say(a, "giving up after %u errors in a row", a->failures + 1);
                ev(a, "give_up", "{s:i}", "errors", (int)a->failures + 1);
                rc = EXIT_UNREACHABLE;
                break;
            }
            backoff(a); /* errors do not count as polls: --once means one complete poll */
            continue;
        }
        a->failures = 0;
        if (!a->attested) /* first contact of this power-on: tell moltd what runs */
            ddi_attest(a);
        polls++;
        if (a->until_update && a->closed)
            break;
        if (a->max_polls < 0 || polls < a->max_polls)
            rc = device_sleep(a, sleep_s);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static agent_t ag; /* large (the envelopes); static, not on the stack */
    static opts_t o;
    agent_t *a = &ag;
    host_set_context("molt-agent", NULL);
    a->tenant = "DEFAULT";
    a->max_polls = -1;
    a->power_cut_at = -1;
    a->backoff_ms = 1000;
    a->max_errors = 20;
    int rc = parse_opts(a, &o, argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a->once)
        a->max_polls = 1;
    snprintf(a->base, sizeof a->base, "%s/%s/controller/v1/%s", a->server, a->tenant, a->id);
    rc = setup_device(a, &o);
    if (rc == 0) {
        ddi_init(&o.tls);
        signal(SIGPIPE, SIG_IGN);
        rc = run(a);
        dev_save(a);
        dev_sim_close(&a->dev);
        ddi_done(a);
    }
    for (size_t i = 0; i < o.ring.count; i++)
        OPENSSL_free((void *)o.keys[i].der);
    ev(a, "exit", "{s:i}", "code", rc);
    ev_close();
    return rc;
}
