/*
 * agent.c - molt-agent: the device side of a deployment, on a simulated device.
 *
 *   molt-agent -f DEV -k PUB [-k PUB ...] --server URL --id ID --token TOKEN
 *              [--tenant T] [--once | --max-polls N] [--health-cmd CMD | --health-fail]
 *              [--until-update] [--drop-after BYTES] [--power-cut-at N] [--backoff-ms MS]
 *              [--max-sleep S] [--max-errors N] [--rate BYTES_PER_S] [--quiet]
 *              [--enc-key ENC_PRIV ...] [--envelope-dir DIR] [--require-encryption]
 *              [--ca-file CA] [--client-cert CERT [--client-key KEY]]
 *
 * The process is the device: starting it is a power-on (the boot code runs on
 * the device file: sim reboot + molt_boot_go), then it speaks the hawkBit DDI
 * API to moltd with its TargetToken. It polls the base resource and sleeps as
 * config.polling.sleep says; for an open deployment it prints the user message
 * (R-NOTIFY) before anything else, downloads the artifact with HTTP Range from
 * where psa_fwu_query() says the download stands (never more than the declared
 * size) and feeds psa_fwu_write(), while the running image keeps running
 * (R-BACKGROUND); then finish (verification), install, a restart (the boot code
 * runs again and activates the image as a trial), a health check, accept or
 * reject (another restart reverts), feedback with details, and a fresh
 * attestation token for moltd (R-ATTEST). Errors back off exponentially with
 * jitter. All device state lives in the device file (flash, the FWU progress
 * record, the attestation key) and is saved at every checkpoint and state
 * change, so a killed agent resumes where the flash says.
 *
 * Encrypted packages (R-CONF, R-ONEPKG): --enc-key gives the device's private
 * encryption keys (the simulated key store imports them as non-exportable PSA
 * keys). When a deployment links a key envelope (molt-key-envelope), the agent
 * fetches it before downloading and keeps it in the key store and in the
 * envelope directory (default DEV.envelopes), where the boot code finds it at
 * every activation and revert; the package itself is the same ciphertext for
 * every device. --require-encryption sets PSA_FWU_FLAG_ENCRYPTION: an
 * unencrypted package is refused at finish.
 *
 * The authenticated watchdog (R-AVAIL, docs/awdt.md): on a device whose
 * watchdog is provisioned (molt sim watchdog), --tickets asks moltd for a
 * deferral ticket at every poll (a nonce from the device's update service,
 * POST .../molt/ticket, the ticket handed back to the device) and --time-scale N
 * moves device time N seconds per second the agent sleeps. When the hardware
 * watchdog fires the device restarts; a recovery boot runs only the updater:
 * the agent then installs what the deployer offers first, asks for a ticket
 * only when nothing is offered, restarts after an accepted update (the
 * confirmed image leaves recovery) and never runs the application's part.
 * --block drop|ignore makes the application an attacker outside recovery:
 * drop discards every deployment (tickets still go through), ignore never
 * asks for a ticket and ignores deployments.
 *
 * Faults for tests and the demo: --drop-after N drops the connection after N
 * bytes of artifact (once per run); --power-cut-at N cuts the power at the
 * N-th flash operation of the activation boot (the device file keeps the torn
 * flash; the next run is the power coming back); --health-fail makes the
 * health check fail. docs/agent.md is the reference.
 *
 * --once polls once (and carries out what that poll offers), --max-polls N
 * polls N times, --until-update stops after the first deployment is closed.
 * Exit: 0 done (--once / --max-polls / --until-update reached), 2 usage or device file error,
 * 3 the simulated power cut happened, 4 the server could not be reached.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cli.h"
#include "enc_tool.h"
#include "molt/attest.h"
#include "molt/boot.h"
#include "molt/enc.h"
#include "molt/fwu.h"
#include "sim_keystore.h"
#include "sim_port.h"

#define MAX_KEYS 8
#define EXIT_USAGE 2
#define EXIT_POWERCUT 3
#define EXIT_UNREACHABLE 4

typedef struct agent {
    /* options */
    const char *file, *server, *tenant, *id, *token, *health_cmd;
    bool once, health_fail, quiet, until_update;
    long max_polls;
    uint64_t drop_after;      /* 0: never */
    long power_cut_at;        /* -1: never */
    long backoff_ms;
    long max_sleep;           /* cap on config.polling.sleep, seconds (0: none) */
    long max_errors;          /* errors in a row before a bounded run gives up */
    long rate;                /* download speed limit, bytes/s (0: none) */
    const char *env_dir;      /* where received key envelopes are kept */
    bool require_enc;         /* PSA_FWU_FLAG_ENCRYPTION: refuse unencrypted packages */
    /* device */
    molt_key_t keys[MAX_KEYS];
    sim_keystore_t ks;        /* the device's encryption keys (--enc-key) and envelopes */
    bool has_ks;
    uint8_t env[SIM_KEYSTORE_ENVELOPES][MOLT_ENV_MAX]; /* the envelopes ks points at */
    char env_action[32];      /* the action whose envelope was fetched this run */
    molt_keyring_t ring;
    sim_device_t dev;
    molt_boot_cfg_t cfg;
    molt_boot_result_t boot;
    molt_fwu_t fwu;
    char running[48];         /* version of the running image */
    /* run */
    char base[1024];          /* {server}/{tenant}/controller/v1/{id} */
    uint64_t dropped_bytes;   /* artifact bytes received this run (for --drop-after) */
    bool dropped;
    char note[768];           /* what happened across a restart (health check) */
    unsigned failures;        /* consecutive errors, for the back-off */
    bool attested;            /* a token was accepted since this power-on */
    char notified[32];        /* the action whose message was shown */
    bool closed;              /* a deployment was closed (final feedback accepted) */
    volatile int abort_dl;    /* set by the polling thread: the deployer cancels */
    long sleep_s;             /* the last config.polling.sleep */
    /* the authenticated watchdog (R-AVAIL) */
    bool tickets;             /* ask moltd for deferral tickets */
    long time_scale;          /* device seconds per second slept (0: device time stands still) */
    int block;                /* 0 none, 1 drop, 2 ignore: the application as an attacker */
    bool updated_in_recovery; /* an update was accepted during recovery: restart to leave it */
    /* a plain hawkBit-shaped server (issue 19) */
    const char *artifact;     /* --artifact NAME: the artifact to take (else chosen by kind) */
    bool defer_attempt;       /* --defer-attempt: "attempt" updates are downloaded, not installed */
    bool consent_no;          /* --consent no: the user denies confirmation requests */
    char downloaded_sent[32]; /* the action told "downloaded" while its install waits */
} agent_t;

/* --- small utilities ------------------------------------------------------------ */

static void say(const agent_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const agent_t *a, const char *fmt, ...)
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

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "molt-agent: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_USAGE;
}

static void sleep_ms(long ms)
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
    sleep_ms(ms);
}

static void version_str(const molt_version_t *v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u+%u", v->major, v->minor, v->revision, (unsigned)v->build);
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

/* --- the device ------------------------------------------------------------------- */

static bool dev_save(agent_t *a)
{
    if (sim_device_save(&a->dev, a->file) != MOLT_OK) {
        fprintf(stderr, "molt-agent: %s: cannot write the device file\n", a->file);
        return false;
    }
    return true;
}

/* Power on (or restart): the boot code runs, then the FWU API is set up over
 * its result. With a power cut armed, the boot is cut; the torn flash is saved
 * and the process ends as a powered-off device would. */
static int power_on(agent_t *a, bool cut)
{
    if (sim_device_reboot(&a->dev) != MOLT_OK)
        return die("%s: the device does not come back", a->file);
    if (cut) {
        sim_flash_arm_cut(&a->dev.flash, SIM_CUT_TORN, (uint64_t)a->power_cut_at, 1);
        say(a, "power cut armed at flash operation %ld of the activation", a->power_cut_at);
    }
    memset(&a->boot, 0, sizeof a->boot);
    a->attested = false; /* a new boot: what runs may have changed */
    molt_err_t e = molt_boot_go(&a->dev.port, &a->cfg, &a->boot);
    if (cut && !sim_flash_powered(&a->dev.flash)) {
        say(a, "POWER CUT during the activation (boot: %s); the device is off", molt_err_name(e));
        sim_flash_reboot(&a->dev.flash); /* the cells stay as the cut left them */
        return dev_save(a) ? EXIT_POWERCUT : EXIT_USAGE;
    }
    sim_flash_disarm(&a->dev.flash);
    if (e != MOLT_OK) {
        dev_save(a);
        return die("%s: no verified image (%s): the device stays in its secure state", a->file, molt_err_str(e));
    }
    sim_device_set_boot_slot(&a->dev, a->boot.slot);
    version_str(&a->boot.image.version, a->running, sizeof a->running);
    if (molt_fwu_init(&a->fwu, &a->dev.port, &a->cfg, &a->boot) != MOLT_OK)
        return die("%s: the FWU API cannot start on this device (swap mode is required)", a->file);
    if (a->require_enc && molt_fwu_set_flags(&a->fwu, 0, PSA_FWU_FLAG_ENCRYPTION) != MOLT_OK)
        return die("%s: PSA_FWU_FLAG_ENCRYPTION cannot be set on this device", a->file);
    molt_fwu_bind(&a->fwu);
    say(a, "boot: running %s (%s%s%s)", a->running, a->boot.trial ? "trial" : "confirmed",
        a->boot.resumed ? ", interrupted activation completed" : "",
        a->boot.action == MOLT_ACT_REVERT ? ", reverted" : "");
    if (a->boot.recovery)
        say(a, "boot: RECOVERY (boot %u): the watchdog's deadline passed; only the updater runs", (unsigned)a->boot.boots);
    a->updated_in_recovery = false;
    return dev_save(a) ? 0 : EXIT_USAGE;
}

static psa_fwu_component_info_t query(void)
{
    psa_fwu_component_info_t i;
    memset(&i, 0, sizeof i);
    if (psa_fwu_query(0, &i) != PSA_SUCCESS)
        i.state = 0xff;
    return i;
}

static const char *state_name(uint8_t s)
{
    static const char *const n[] = {"READY", "WRITING", "CANDIDATE", "STAGED", "FAILED", "TRIAL", "REJECTED",
                                    "UPDATED"};
    return s < 8 ? n[s] : "?";
}

static const char *psa_name(psa_status_t s)
{
    switch (s) {
    case PSA_SUCCESS: return "SUCCESS";
    case PSA_ERROR_INVALID_SIGNATURE: return "INVALID_SIGNATURE";
    case PSA_ERROR_NOT_PERMITTED: return "NOT_PERMITTED";
    case PSA_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case PSA_ERROR_BAD_STATE: return "BAD_STATE";
    case PSA_ERROR_INSUFFICIENT_STORAGE: return "INSUFFICIENT_STORAGE";
    case PSA_ERROR_STORAGE_FAILURE: return "STORAGE_FAILURE";
    default: return "ERROR";
    }
}

/* FAILED / REJECTED reason: a molt_err_t (positive) or a PSA status. */
static const char *fail_name(psa_status_t e)
{
    return e > 0 ? molt_err_name((molt_err_t)e) : psa_name(e);
}

/* --- encryption: the key store and the key envelopes (R-CONF, R-ONEPKG) ---------- */

/* The digest an envelope is bound to (docs/encryption.md: byte 7 the hash TLV
 * type, then its value); NULL if the envelope is malformed. */
static const uint8_t *env_binding(const uint8_t *e, size_t len, size_t *dlen)
{
    *dlen = len >= MOLT_ENV_HDR ? (e[7] == MOLT_TLV_SHA256 ? 32 : e[7] == MOLT_TLV_SHA384 ? 48
                                   : e[7] == MOLT_TLV_SHA512 ? 64 : 0) : 0;
    if (*dlen == 0 || len < MOLT_ENV_HDR + *dlen || len > MOLT_ENV_MAX || memcmp(e, "MENV", 4) != 0)
        return NULL;
    return e + MOLT_ENV_HDR;
}

/* Is d the hash TLV value of the image in slot id? */
static bool slot_bound(agent_t *a, uint32_t id, const uint8_t *d, size_t dlen)
{
    const molt_area_t *ar = &a->dev.port.area[id];
    molt_source_t src = {ar->read, ar->ctx, ar->size};
    molt_image_t im;
    uint8_t got[64];
    size_t glen = 0;
    uint16_t type;
    return molt_image_parse(&src, &im) == MOLT_OK && enc_image_digest(&src, &im, &type, got, &glen) &&
           glen == dlen && memcmp(got, d, dlen) == 0;
}

static void env_path(const agent_t *a, const uint8_t *d, size_t dlen, char *out, size_t cap)
{
    char hex[129];
    cli_hex(d, dlen, hex);
    snprintf(out, cap, "%s/%s.env", a->env_dir, hex);
}

/* Keep an envelope in the key store (and, with save, in the envelope directory,
 * written atomically): it replaces one bound to the same image; when the store
 * is full, one bound to neither slot's image makes room (those of both slots
 * stay while a revert is possible). */
static bool env_keep(agent_t *a, const uint8_t *e, size_t len, bool save, char *why, size_t cap)
{
    size_t dlen, olen;
    const uint8_t *d = env_binding(e, len, &dlen);
    if (!d) {
        snprintf(why, cap, "not a key envelope (%zu bytes)", len);
        return false;
    }
    unsigned i, n = a->ks.nenv;
    for (i = 0; i < n; i++) {
        const uint8_t *o = env_binding(a->ks.env[i], a->ks.env_len[i], &olen);
        if (o && olen == dlen && memcmp(o, d, dlen) == 0)
            break;
    }
    for (unsigned j = 0; i == n && n == SIM_KEYSTORE_ENVELOPES && j < n; j++) {
        const uint8_t *o = env_binding(a->ks.env[j], a->ks.env_len[j], &olen);
        if (!o || (!slot_bound(a, MOLT_AREA_PRIMARY, o, olen) && !slot_bound(a, MOLT_AREA_SECONDARY, o, olen))) {
            char old[1200];
            if (o) {
                env_path(a, o, olen, old, sizeof old);
                unlink(old);
            }
            i = j;
        }
    }
    if (i == SIM_KEYSTORE_ENVELOPES) {
        snprintf(why, cap, "the key store holds %u envelopes, all for the images in the slots", n);
        return false;
    }
    if (save) {
        char path[1200], tmp[1300];
        env_path(a, d, dlen, path, sizeof path);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok = fd >= 0 && write(fd, e, len) == (ssize_t)len && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok || rename(tmp, path) != 0) {
            unlink(tmp);
            snprintf(why, cap, "%.900s: %s", path, strerror(errno));
            return false;
        }
    }
    memcpy(a->env[i], e, len);
    a->ks.env[i] = a->env[i];
    a->ks.env_len[i] = len;
    if (i == a->ks.nenv)
        a->ks.nenv++;
    return true;
}

/* At power-on: the envelopes received before, from the envelope directory. */
static int env_load_dir(agent_t *a)
{
    if (mkdir(a->env_dir, 0700) != 0 && errno != EEXIST)
        return die("%s: %s", a->env_dir, strerror(errno));
    DIR *dir = opendir(a->env_dir);
    if (!dir)
        return die("%s: %s", a->env_dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".env") != 0)
            continue;
        char path[1400], why[200];
        uint8_t e[MOLT_ENV_MAX + 1];
        snprintf(path, sizeof path, "%s/%s", a->env_dir, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t len = fd >= 0 ? read(fd, e, sizeof e) : -1;
        if (fd >= 0)
            close(fd);
        if (len <= 0 || !env_keep(a, e, (size_t)len, false, why, sizeof why))
            say(a, "key envelope %s ignored: %s", path, len <= 0 ? "unreadable" : why);
    }
    closedir(dir);
    return 0;
}

/* --- HTTP (libcurl) ------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t to_buf(char *d, size_t sz, size_t n, void *ctx)
{
    buf_t *b = ctx;
    size_t len = sz * n;
    if (b->n + len > (1u << 20))
        return 0; /* a JSON answer is small */
    char *p = realloc(b->p, b->n + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, d, len);
    b->p = p;
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

/* --- the connection to moltd ------------------------------------------------------
 * One connection for a whole update cycle: every request and the download use
 * one curl easy handle, kept for the life of the process (curl_easy_reset
 * between transfers keeps its connection), so poll, deploymentBase, the
 * envelope, the Range download, feedback and attestation reuse one kept-alive
 * connection. The download runs in its own thread (R-BACKGROUND) while this one
 * keeps polling: those polls use a second handle, so a handle is only ever used
 * by one thread at a time (libcurl's shared connection cache is not
 * thread-safe, its known bug 11.11, so no cache is shared between threads); the
 * download thread is joined before the main handle is used again. A new
 * connection opens only for those polls beside a download, or when the server
 * closed the idle one. --ca-file verifies the server's certificate (moltd
 * behind a TLS proxy) against that CA; --client-cert/--client-key authenticate
 * the device by certificate, and then no TargetToken is needed. */
static struct {
    const char *ca_file, *cert, *key;
    CURL *main, *side;          /* side: polls while the download thread holds main */
    bool downloading;           /* set and read by the polling thread only */
    long connects, transfers;   /* for the summary line at exit */
} net;

/* *h, ready for a new transfer (its options reset, its connection kept). */
static CURL *net_handle(CURL **h)
{
    if (!*h && !(*h = curl_easy_init()))
        return NULL;
    CURL *c = *h;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (net.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, net.ca_file);
    if (net.cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, net.cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, net.key ? net.key : net.cert);
    }
    return c;
}

/* After a transfer on c: count the connections it had to open. */
static void net_count(CURL *c)
{
    long n = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
    __atomic_fetch_add(&net.connects, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&net.transfers, 1, __ATOMIC_RELAXED);
}

static struct curl_slist *net_auth(const agent_t *a, struct curl_slist *h)
{
    char auth[300];
    if (!a->token)
        return h; /* a client certificate says who the device is */
    snprintf(auth, sizeof auth, "Authorization: TargetToken %s", a->token);
    return curl_slist_append(h, auth);
}

static void net_done(const agent_t *a)
{
    say(a, "connections: %ld opened for %ld requests", net.connects, net.transfers);
    if (net.main)
        curl_easy_cleanup(net.main);
    if (net.side)
        curl_easy_cleanup(net.side);
}

/* One request; returns the HTTP status (0: no answer), the body in *out. From
 * the polling thread only (the download thread has download()). */
static long request(agent_t *a, const char *method, const char *url, const char *type, const void *body,
                    size_t len, buf_t *out)
{
    CURL *c = net_handle(net.downloading ? &net.side : &net.main);
    if (!c)
        return 0;
    char ct[128];
    struct curl_slist *h = net_auth(a, NULL);
    h = curl_slist_append(h, "Accept: application/json");
    if (type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", type);
        h = curl_slist_append(h, ct);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long code = 0;
    CURLcode rc = curl_easy_perform(c);
    net_count(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    else
        say(a, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    return code;
}

static json_t *get_json(agent_t *a, const char *url, long *code)
{
    buf_t b = {0};
    *code = request(a, "GET", url, NULL, NULL, 0, &b);
    json_error_t e;
    json_t *j = *code == 200 && b.p ? json_loads(b.p, 0, &e) : NULL;
    if (*code && *code != 200)
        say(a, "GET %s: HTTP %ld %s", url, *code, b.p ? b.p : "");
    free(b.p);
    return j;
}

/* DDI feedback for action aid. finished: success | failure | none. */
static bool feedback(agent_t *a, const char *aid, const char *execution, const char *finished, const char *detail,
                     long cnt, long of)
{
    json_t *result = json_pack("{s:s}", "finished", finished);
    if (of > 0)
        json_object_set_new(result, "progress", json_pack("{s:I,s:I}", "cnt", (json_int_t)cnt, "of", (json_int_t)of));
    json_t *j = json_pack("{s:s,s:{s:s,s:o,s:[s]}}", "id", aid, "status", "execution", execution, "result", result,
                          "details", detail ? detail : "");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char url[1200];
    snprintf(url, sizeof url, "%s/deploymentBase/%s/feedback", a->base, aid);
    buf_t b = {0};
    long code = s ? request(a, "POST", url, "application/json", s, strlen(s), &b) : 0;
    free(s);
    if (code != 200 && code != 410)
        say(a, "feedback %s/%s: HTTP %ld %s", execution, finished, code, b.p ? b.p : "");
    if ((code == 200 || code == 410) && strcmp(execution, "closed") == 0)
        a->closed = true;
    free(b.p);
    return code == 200 || code == 410; /* 410: already closed (an earlier run's feedback arrived) */
}

/* R-ATTEST: answer a fresh challenge from moltd with a token over what runs now. */
static bool attest(agent_t *a)
{
    char url[1200];
    snprintf(url, sizeof url, "%s/molt/attestation", a->base);
    long code;
    json_t *j = get_json(a, url, &code);
    const char *hex = j ? json_string_value(json_object_get(j, "nonce")) : NULL;
    uint8_t nonce[64];
    size_t nlen = hex ? strlen(hex) / 2 : 0;
    bool ok = hex && strlen(hex) % 2 == 0 && nlen <= sizeof nonce;
    for (size_t i = 0; ok && i < nlen; i++) {
        unsigned v;
        ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
        nonce[i] = (uint8_t)v;
    }
    json_decref(j);
    if (!ok) {
        say(a, "attestation: no challenge (HTTP %ld)", code);
        return false;
    }
    uint8_t tok[MOLT_ATTEST_TOKEN_MAX];
    size_t len = 0;
    molt_attest_req_t req = {nonce, nlen, -1, a->boot.slot, a->cfg};
    molt_err_t e = molt_attest_get_token(&a->dev.port, &req, tok, sizeof tok, &len);
    if (e != MOLT_OK) {
        say(a, "attestation: the device cannot sign a token: %s", molt_err_str(e));
        return false;
    }
    buf_t b = {0};
    code = request(a, "POST", url, "application/cbor", tok, len, &b);
    say(a, "attestation: %zu-byte token, %s %s", len, code == 200 ? "verified by moltd:" : "REFUSED:",
        b.p ? b.p : "");
    free(b.p);
    a->attested = a->attested || code == 200;
    return code == 200;
}

/* R-ONEPKG: this device's key envelope for the deployment's package. */
static bool fetch_envelope(agent_t *a, const char *url, char *why, size_t cap)
{
    buf_t b = {0};
    long code = request(a, "GET", url, NULL, NULL, 0, &b);
    bool ok = code == 200 && b.p && env_keep(a, (const uint8_t *)b.p, b.n, true, why, cap);
    if (code != 200)
        snprintf(why, cap, "GET %s: HTTP %ld %s", url, code, b.p ? b.p : "");
    if (ok)
        say(a, "key envelope: %zu bytes for this device, kept for the boot code", b.n);
    free(b.p);
    return ok;
}

/* --- the download ---------------------------------------------------------------- */

typedef struct dl {
    agent_t *a;
    CURL *curl;
    uint64_t off;        /* image offset of the next byte for psa_fwu_write */
    uint64_t size;       /* declared artifact size */
    uint64_t skip;       /* bytes to discard (a server that ignored the Range) */
    long status;
    psa_status_t werr;
    bool over, dropped;
    uint64_t next_save, next_print;
    uint64_t start_off;  /* for --rate */
    struct timespec t0;
} dl_t;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static size_t on_data(char *d, size_t sz, size_t n, void *ctx)
{
    dl_t *x = ctx;
    size_t len = sz * n, used = 0;
    if (x->status == 0) { /* first bytes: a 200 to a ranged request sends the file from 0 */
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status == 200 && x->off > 0)
            x->skip = x->off;
        if (x->status != 200 && x->status != 206)
            return len; /* an error page: not image data (the status is checked after) */
    }
    if (x->status != 200 && x->status != 206)
        return len;
    while (used < len && x->skip > 0) { /* a 200 to a ranged request: skip what we have */
        size_t k = len - used < x->skip ? len - used : (size_t)x->skip;
        used += k;
        x->skip -= k;
    }
    if (x->off + (len - used) > x->size) { /* never more than the declared size */
        x->over = true;
        return 0;
    }
    while (used < len) {
        size_t k = len - used > PSA_FWU_MAX_WRITE_SIZE ? PSA_FWU_MAX_WRITE_SIZE : len - used;
        if (x->a->drop_after && !x->a->dropped && x->a->dropped_bytes + k > x->a->drop_after) {
            k = (size_t)(x->a->drop_after - x->a->dropped_bytes);
            x->dropped = x->a->dropped = true;
        }
        if (k > 0) {
            x->werr = psa_fwu_write(0, (size_t)x->off, d + used, k);
            if (x->werr != PSA_SUCCESS)
                return 0;
            x->off += k;
            used += k;
            x->a->dropped_bytes += k;
        }
        /* --rate: a slow link, block by block (the deployer can cancel meanwhile) */
        while (x->a->rate > 0 && !__atomic_load_n(&x->a->abort_dl, __ATOMIC_SEQ_CST) &&
               since(&x->t0) < (double)(x->off - x->start_off) / (double)x->a->rate)
            sleep_ms(20);
        if (x->dropped)
            return 0; /* the connection "drops" here */
        if (__atomic_load_n(&x->a->abort_dl, __ATOMIC_SEQ_CST))
            return 0; /* the deployer cancelled: stop at once */
        if (x->off >= x->next_save) { /* the flash is the device's: persist what is written */
            dev_save(x->a);
            x->next_save = x->off + 16384;
        }
        if (x->off >= x->next_print || x->off == x->size) {
            say(x->a, "download %llu/%llu bytes (%llu%%)", (unsigned long long)x->off,
                (unsigned long long)x->size, (unsigned long long)(x->off * 100 / (x->size ? x->size : 1)));
            x->next_print = x->off + x->size / 4 + 1;
        }
    }
    return len;
}

/* Download [off, size) into the FWU staging area. Returns true when complete. */
static bool download(agent_t *a, const char *url, uint64_t off, uint64_t size, char *why, size_t whycap)
{
    dl_t x = {.a = a, .off = off, .size = size, .next_save = off + 16384, .next_print = off};
    if (off >= size) {
        snprintf(why, whycap, "nothing left to download at %llu of %llu", (unsigned long long)off,
                 (unsigned long long)size);
        return false;
    }
    CURL *c = net_handle(&net.main); /* the polling thread uses side meanwhile */
    if (!c)
        return false;
    char range[64];
    struct curl_slist *h = net_auth(a, NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* a mirror or CDN: the package is signed end to end */
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    if (off > 0) {
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off, (unsigned long long)size - 1);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
        say(a, "resuming the download at byte %llu (Range: bytes=%s)", (unsigned long long)off, range);
    }
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)size);
    x.start_off = off;
    clock_gettime(CLOCK_MONOTONIC, &x.t0);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    x.curl = c;
    CURLcode rc = curl_easy_perform(c);
    net_count(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    dev_save(a);
    if (__atomic_load_n(&a->abort_dl, __ATOMIC_SEQ_CST)) {
        snprintf(why, whycap, "the deployer cancels the update (after %llu bytes)", (unsigned long long)x.off);
        return false;
    }
    if (x.dropped) {
        snprintf(why, whycap, "connection dropped after %llu bytes (fault injected)", (unsigned long long)x.off);
        return false;
    }
    if (x.werr != PSA_SUCCESS) {
        snprintf(why, whycap, "psa_fwu_write refused the data at %llu: %s", (unsigned long long)x.off,
                 psa_name(x.werr));
        return false;
    }
    if (x.over || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(why, whycap, "the server sent more than the declared %llu bytes", (unsigned long long)size);
        return false;
    }
    if (rc != CURLE_OK) {
        snprintf(why, whycap, "%s after %llu bytes", curl_easy_strerror(rc), (unsigned long long)x.off);
        return false;
    }
    if (code != 200 && code != 206) {
        snprintf(why, whycap, "HTTP %ld", code);
        return false;
    }
    if (x.off != size) {
        snprintf(why, whycap, "short download: %llu of %llu bytes", (unsigned long long)x.off,
                 (unsigned long long)size);
        return false;
    }
    return true;
}

/* The download runs in its own thread (R-BACKGROUND) while this one keeps
 * polling moltd at config.polling.sleep: a cancelAction stops the download. */
typedef struct bg {
    agent_t *a;
    const char *url;
    uint64_t off, size;
    char why[1024];
    bool ok;
    volatile int done;
} bg_t;

static void *bg_download(void *ctx)
{
    bg_t *b = ctx;
    b->ok = download(b->a, b->url, b->off, b->size, b->why, sizeof b->why);
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static bool download_bg(agent_t *a, const char *url, uint64_t off, uint64_t size, char *why, size_t whycap)
{
    static bg_t b; /* one download at a time */
    memset(&b, 0, sizeof b);
    b.a = a;
    b.url = url;
    b.off = off;
    b.size = size;
    __atomic_store_n(&a->abort_dl, 0, __ATOMIC_SEQ_CST);
    pthread_t t;
    if (pthread_create(&t, NULL, bg_download, &b) != 0)
        bg_download(&b);
    else {
        net.downloading = true; /* the download thread has the main handle: polls take the side one */
        long waited = 0, every = (a->sleep_s > 0 ? a->sleep_s : 1) * 1000;
        while (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST)) {
            sleep_ms(50);
            waited += 50;
            if (waited < every)
                continue;
            waited = 0;
            buf_t r = {0};
            long code = request(a, "GET", a->base, NULL, NULL, 0, &r);
            if (code == 200 && r.p && strstr(r.p, "\"cancelAction\"")) {
                say(a, "the deployer cancels the update: stopping the download");
                __atomic_store_n(&a->abort_dl, 1, __ATOMIC_SEQ_CST);
            }
            free(r.p);
        }
        pthread_join(t, NULL);
        net.downloading = false;
    }
    snprintf(why, whycap, "%s", b.why);
    return b.ok;
}

/* --- health check ------------------------------------------------------------------ */

static bool health_check(agent_t *a, char *why, size_t cap)
{
    if (a->health_fail) {
        snprintf(why, cap, "health check failed (--health-fail)");
        return false;
    }
    if (!a->health_cmd) {
        snprintf(why, cap, "health check passed");
        return true;
    }
    setenv("MOLT_VERSION", a->running, 1);
    setenv("MOLT_DEVICE", a->id, 1);
    int st = system(a->health_cmd);
    bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    snprintf(why, cap, "health check `%s` %s (status %d)", a->health_cmd, ok ? "passed" : "failed",
             st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return ok;
}

/* --- what a hawkBit-shaped server offers -------------------------------------------- */

/* "2.0.0", "2.0", "2.0.0+0", "2.0.0.7": up to four numbers, the last one after '+'
 * or '.'; missing parts are 0. false for anything else. */
static bool version_parse(const char *s, unsigned long v[4])
{
    memset(v, 0, 4 * sizeof *v);
    for (int i = 0; i < 4; i++) {
        if (!s || *s < '0' || *s > '9')
            return false;
        char *end;
        v[i] = strtoul(s, &end, 10);
        if (*end == '\0')
            return true;
        if (!(i < 3 && (*end == '.' || (*end == '+' && i == 2))))
            return false;
        s = end + 1;
    }
    return false;
}

/* The server's form of a version against the device's: a plain hawkBit server
 * says "2.0.0" where the image (and moltd) say "2.0.0+0". Numerically equal is
 * the same version; strings that are not versions compare as strings. */
static bool version_same(const char *mine, const char *theirs)
{
    unsigned long x[4], y[4];
    if (version_parse(mine, x) && version_parse(theirs, y))
        return memcmp(x, y, sizeof x) == 0;
    return strcmp(mine, theirs) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The artifact this device takes: the one named by --artifact, else by kind,
 * not position: the first signed-image artifact of a chunk of part "os"
 * (hawkBit's firmware part), then of any chunk, skipping what is not an image
 * (SWUpdate archives, checksum and signature files, text). *chunk: its chunk. */
static json_t *pick_artifact(const agent_t *a, json_t *chunks, json_t **chunk)
{
    static const char *const foreign[] = {".swu", ".md5sum", ".md5", ".sha1", ".sha256", ".sig", ".asc",
                                          ".txt", ".json", ".deb", ".rpm", ".ipk"};
    for (int pass = 0; pass < 2; pass++) {
        size_t i, k;
        json_t *c, *art;
        json_array_foreach(chunks, i, c)
        {
            const char *part = json_string_value(json_object_get(c, "part"));
            if (!a->artifact && (pass == 0) != (part && strcmp(part, "os") == 0))
                continue;
            if (a->artifact && pass == 1)
                break;
            json_array_foreach(json_object_get(c, "artifacts"), k, art)
            {
                const char *fn = json_string_value(json_object_get(art, "filename"));
                bool take = fn && (a->artifact ? strcmp(fn, a->artifact) == 0 : true);
                for (size_t f = 0; take && !a->artifact && f < sizeof foreign / sizeof *foreign; f++)
                    take = !ends_with(fn, foreign[f]);
                if (take) {
                    *chunk = c;
                    return art;
                }
            }
        }
    }
    *chunk = NULL;
    return NULL;
}

/* --- one deployment ------------------------------------------------------------------ */

/* Drive the deployment aid (target version ver) from wherever the device stands.
 * Returns 0 when the action is closed or must be retried later (*retry), or an
 * exit code (power cut, device error). */
static int deploy(agent_t *a, const char *aid, json_t *dep, bool *retry)
{
    json_t *d = json_object_get(dep, "deployment"), *chunk = NULL;
    json_t *art = pick_artifact(a, json_object_get(d, "chunks"), &chunk);
    const char *ver = json_string_value(json_object_get(chunk, "version"));
    /* hawkBit's modes: download skip: not now; update skip (a download-only
     * action, or outside the maintenance window) or attempt with --defer-attempt:
     * download and verify, install later. Unknown values are read as forced. */
    const char *dl = json_string_value(json_object_get(d, "download")), *up = json_string_value(json_object_get(d, "update"));
    const char *mw = json_string_value(json_object_get(d, "maintenanceWindow"));
    bool no_download = dl && strcmp(dl, "skip") == 0;
    bool no_install = (up && strcmp(up, "skip") == 0) || (mw && strcmp(mw, "unavailable") == 0) ||
                      (up && strcmp(up, "attempt") == 0 && a->defer_attempt);
    json_t *links = json_object_get(art, "_links");
    const char *url = json_string_value(json_object_get(json_object_get(links, "download-http"), "href"));
    if (!url)
        url = json_string_value(json_object_get(json_object_get(links, "download"), "href"));
    json_int_t size = json_integer_value(json_object_get(art, "size"));
    const char *msg = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(chunk, "metadata"), i, m)
    {
        const char *k = json_string_value(json_object_get(m, "key"));
        if (k && strcmp(k, "molt.message") == 0)
            msg = json_string_value(json_object_get(m, "value"));
    }
    *retry = false;
    if (!art) {
        char w[300];
        if (a->artifact)
            snprintf(w, sizeof w, "no artifact named %.200s in the deployment", a->artifact);
        else
            snprintf(w, sizeof w, "no signed-image artifact in the deployment (only SWUpdate, checksum or signature files)");
        say(a, "deployment %s: %s", aid, w);
        feedback(a, aid, "closed", "failure", w, 0, 0);
        return 0;
    }
    if (!ver || !url || size <= 0) {
        say(a, "deployment %s: malformed (no version, download link or size)", aid);
        feedback(a, aid, "closed", "failure", "malformed deployment: no version, download link or size", 0, 0);
        return 0;
    }

    /* R-NOTIFY: the user is told before anything happens. */
    if (strcmp(a->notified, aid) != 0) {
        say(a, "update %s -> %s offered (action %s)", a->running, ver, aid);
        say(a, "MESSAGE FOR THE USER: %s", msg && *msg ? msg : "(none)");
        snprintf(a->notified, sizeof a->notified, "%s", aid);
    } else {
        say(a, "update to %s (action %s) continues", ver, aid);
    }
    say(a, "artifact %s of chunk %s; modes: download=%s update=%s%s%s", json_string_value(json_object_get(art, "filename")),
        json_string_value(json_object_get(chunk, "name")) ? json_string_value(json_object_get(chunk, "name")) : "?",
        dl ? dl : "forced", up ? up : "forced", mw ? " maintenanceWindow=" : "", mw ? mw : "");
    char why[1024];
    /* An encrypted package: the envelope first, before any byte is downloaded. */
    const char *env_url = json_string_value(json_object_get(json_object_get(links, "molt-key-envelope"), "href"));
    if (env_url && !a->has_ks) {
        snprintf(why, sizeof why, "an encrypted package, and this device has no key store (--enc-key)");
        feedback(a, aid, "closed", "failure", why, 0, 0);
        say(a, "feedback: failure (%s)", why);
        return 0;
    }
    if (env_url && strcmp(a->env_action, aid) != 0) {
        if (!fetch_envelope(a, env_url, why, sizeof why)) {
            say(a, "key envelope: %s", why);
            *retry = true;
            return 0;
        }
        snprintf(a->env_action, sizeof a->env_action, "%s", aid);
    }
    for (int guard = 0; guard < 16; guard++) {
        psa_fwu_component_info_t q = query();
        switch (q.state) {
        case PSA_FWU_READY:
            if (version_same(a->running, ver) && !a->boot.trial) {
                snprintf(why, sizeof why, "%s running and confirmed", a->running);
                feedback(a, aid, "closed", "success", why, 0, 0);
                say(a, "feedback: success (%s)", why);
                attest(a);
                return 0;
            }
            if (no_download) {
                say(a, "the server says download skip: nothing now");
                return 0;
            }
            if (psa_fwu_start(0, NULL, 0) != PSA_SUCCESS) {
                say(a, "psa_fwu_start refused");
                *retry = true;
                return 0;
            }
            feedback(a, aid, "proceeding", "none", "download started", 0, (long)size);
            dev_save(a);
            break;
        case PSA_FWU_WRITING:
            if (!download_bg(a, url, q.impl.written, (uint64_t)size, why, sizeof why)) {
                say(a, "download interrupted: %s", why);
                *retry = true; /* the next attempt resumes from psa_fwu_query's offset */
                return 0;
            }
            {
                psa_status_t s = psa_fwu_finish(0);
                dev_save(a);
                if (s != PSA_SUCCESS) {
                    psa_fwu_component_info_t f = query();
                    snprintf(why, sizeof why, "the device refused the package at finish: %s (%s)", psa_name(s),
                             fail_name(f.error));
                    say(a, "%s", why);
                    psa_fwu_clean(0);
                    dev_save(a);
                    feedback(a, aid, "closed", "failure", why, 0, 0);
                    say(a, "feedback: failure");
                    attest(a);
                    return 0;
                }
                say(a, "download complete and verified (signature, hash, security counter)");
                if (feedback(a, aid, "downloaded", "none", "downloaded and verified", (long)size, (long)size) && no_install)
                    snprintf(a->downloaded_sent, sizeof a->downloaded_sent, "%s", aid);
            }
            break;
        case PSA_FWU_CANDIDATE: {
            if (no_install) { /* verified and kept; installed when the server says so */
                if (strcmp(a->downloaded_sent, aid) != 0 &&
                    feedback(a, aid, "downloaded", "none", "downloaded and verified; the install waits", (long)size,
                             (long)size))
                    snprintf(a->downloaded_sent, sizeof a->downloaded_sent, "%s", aid);
                say(a, "downloaded %s; the install waits (update %s%s%s)", ver, up ? up : "forced",
                    mw ? ", maintenance window " : "", mw ? mw : "");
                return 0;
            }
            psa_status_t s = psa_fwu_install();
            dev_save(a);
            say(a, "install: %s", s == PSA_SUCCESS_REBOOT ? "staged, restarting" : psa_name(s));
            if (s != PSA_SUCCESS_REBOOT && s != PSA_SUCCESS) {
                *retry = true;
                return 0;
            }
            feedback(a, aid, "proceeding", "none", "installed, restarting to activate", 0, 0);
            break;
        }
        case PSA_FWU_STAGED: {
            say(a, "restart: the boot code activates %s", ver);
            int rc = power_on(a, a->power_cut_at >= 0);
            if (rc)
                return rc;
            break;
        }
        case PSA_FWU_TRIAL: {
            char hc[400];
            bool healthy = health_check(a, hc, sizeof hc);
            say(a, "%s on %s", hc, a->running);
            if (healthy) {
                psa_status_t s = psa_fwu_accept();
                dev_save(a);
                if (s != PSA_SUCCESS) {
                    say(a, "accept failed: %s", psa_name(s));
                    *retry = true;
                    return 0;
                }
                say(a, "accepted %s", a->running);
                break; /* UPDATED: cleaned below, then reported */
            }
            snprintf(a->note, sizeof a->note, "%s on %s; rejected", hc, a->running);
            psa_fwu_reject(0);
            dev_save(a);
            say(a, "rejected %s: restarting to revert", a->running);
            int rc = power_on(a, false);
            if (rc)
                return rc;
            break;
        }
        case PSA_FWU_REJECTED: {
            int rc = power_on(a, false);
            if (rc)
                return rc;
            break;
        }
        case PSA_FWU_UPDATED: {
            psa_fwu_clean(0);
            dev_save(a);
            uint32_t cnt = 0;
            (void)a->dev.port.nv_read(a->dev.port.ctx, MOLT_NV_SECURITY_COUNTER, &cnt);
            snprintf(why, sizeof why, "%s running, health check passed, accepted; security counter %u", a->running,
                     (unsigned)cnt);
            feedback(a, aid, "closed", version_same(a->running, ver) ? "success" : "failure", why, 0, 0);
            say(a, "feedback: success (%s)", why);
            attest(a);
            a->updated_in_recovery = a->boot.recovery;
            return 0;
        }
        case PSA_FWU_FAILED: {
            snprintf(why, sizeof why, "%s%s%s; running %s", a->note, a->note[0] ? "; " : "", fail_name(q.error),
                     a->running);
            psa_fwu_clean(0);
            dev_save(a);
            feedback(a, aid, "closed", "failure", why, 0, 0);
            say(a, "feedback: failure (%s)", why);
            a->note[0] = '\0';
            attest(a);
            return 0;
        }
        default:
            say(a, "the FWU API is in an unknown state (%s)", state_name(q.state));
            return EXIT_USAGE;
        }
    }
    say(a, "deployment %s: no progress", aid);
    *retry = true;
    return 0;
}

/* --- the authenticated watchdog (R-AVAIL) ------------------------------------------ */

/* A deferral ticket: a nonce from the device's update service, moltd signs (or
 * refuses: the reason is printed; OUTDATED means the deployer wants an update
 * first), the device checks and stores it. */
static bool ask_ticket(agent_t *a)
{
    uint8_t nonce[MOLT_AWDT_NONCE_LEN];
    char hex[2 * sizeof nonce + 1], url[1200], body[96];
    molt_err_t e = sim_awdt_nonce(&a->dev.aw, nonce);
    if (e != MOLT_OK) {
        say(a, "ticket: the device issues no nonce: %s", molt_err_str(e));
        return false;
    }
    dev_save(a); /* the outstanding nonce is the update service's RAM; saved for the CLI */
    cli_hex(nonce, sizeof nonce, hex);
    snprintf(url, sizeof url, "%s/molt/ticket", a->base);
    snprintf(body, sizeof body, "{\"nonce\":\"%s\"}", hex);
    buf_t b = {0};
    long code = request(a, "POST", url, "application/json", body, strlen(body), &b);
    json_error_t je;
    json_t *j = code == 200 && b.p ? json_loads(b.p, 0, &je) : NULL;
    const char *th = j ? json_string_value(json_object_get(j, "ticket")) : NULL;
    uint8_t t[MOLT_AWDT_TICKET_LEN];
    size_t tl = 0;
    bool ok = false;
    if (th == NULL || !cli_parse_hex(th, t, sizeof t, &tl)) {
        say(a, "ticket: refused by moltd (HTTP %ld %s)", code, b.p ? b.p : "");
    } else if ((e = sim_awdt_ticket(&a->dev.aw, t, tl)) != MOLT_OK) {
        say(a, "ticket: refused by the device: %s [%s]", molt_err_str(e), molt_err_name(e));
    } else {
        molt_awdt_state_t st;
        uint32_t boots = 0;
        (void)sim_awdt_status(&a->dev.aw, &st, &boots);
        say(a, "ticket: accepted; deadline at device time %u (now %u), boot limit %u", (unsigned)st.deadline,
            (unsigned)a->dev.aw.clock, (unsigned)st.boot_limit);
        ok = dev_save(a);
    }
    json_decref(j);
    free(b.p);
    return ok;
}

/* Sleep s seconds; device time moves on by s * time_scale. Returns an exit code,
 * 0 also after a restart the hardware watchdog forced. */
static int device_sleep(agent_t *a, long s)
{
    sleep_ms(s * 1000);
    if (a->cfg.awdt == NULL || a->time_scale == 0)
        return 0;
    if (!sim_awdt_advance(&a->dev.aw, (uint32_t)(s * a->time_scale))) {
        dev_save(a);
        return 0;
    }
    say(a, "the hardware watchdog fired at device time %u: restart", (unsigned)a->dev.aw.clock);
    return power_on(a, false);
}

/* One poll of the base resource and what it asks for. *sleep_s: the next sleep. */
static int poll_once(agent_t *a, long *sleep_s, bool *error)
{
    long code;
    json_t *j = get_json(a, a->base, &code);
    *error = !j;
    if (!j)
        return 0;
    const char *sl = json_string_value(json_object_get(json_object_get(json_object_get(j, "config"), "polling"),
                                                       "sleep"));
    unsigned hh, mm, ss;
    if (sl && sscanf(sl, "%u:%u:%u", &hh, &mm, &ss) == 3)
        *sleep_s = (long)hh * 3600 + mm * 60 + ss;
    if (a->max_sleep > 0 && *sleep_s > a->max_sleep)
        *sleep_s = a->max_sleep;
    a->sleep_s = *sleep_s;
    json_t *links = json_object_get(j, "_links");
    const char *dep = json_string_value(json_object_get(json_object_get(links, "deploymentBase"), "href"));
    const char *cancel = json_string_value(json_object_get(json_object_get(links, "cancelAction"), "href"));
    const char *cfg = json_string_value(json_object_get(json_object_get(links, "configData"), "href"));
    const char *conf = json_string_value(json_object_get(json_object_get(links, "confirmationBase"), "href"));
    int rc = 0;
    if (cfg) {
        char body[256];
        snprintf(body, sizeof body, "{\"mode\":\"merge\",\"data\":{\"molt.version\":\"%s\",\"molt.agent\":\"%s\"}}",
                 a->running, "molt-agent");
        buf_t b = {0};
        request(a, "PUT", cfg, "application/json", body, strlen(body), &b);
        free(b.p);
    }
    if (cancel) {
        const char *aid = strrchr(cancel, '/') + 1;
        psa_fwu_component_info_t q = query();
        bool can = q.state == PSA_FWU_READY || q.state == PSA_FWU_WRITING || q.state == PSA_FWU_CANDIDATE ||
                   q.state == PSA_FWU_FAILED;
        if (q.state == PSA_FWU_WRITING || q.state == PSA_FWU_CANDIDATE)
            psa_fwu_cancel(0);
        if (can) {
            psa_fwu_clean(0);
            dev_save(a);
        }
        char url[1200], body[256];
        snprintf(url, sizeof url, "%s/cancelAction/%s/feedback", a->base, aid);
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"status\":{\"execution\":\"%s\",\"result\":{\"finished\":\"%s\"}}}",
                 aid, can ? "closed" : "rejected", can ? "success" : "failure");
        buf_t b = {0};
        request(a, "POST", url, "application/json", body, strlen(body), &b);
        free(b.p);
        say(a, "cancel of action %s: %s", aid, can ? "done" : "refused (already activating)");
    } else if (dep && a->block != 0 && !a->boot.recovery) {
        /* the application is the attacker: the deployment never reaches the updater */
        say(a, "deployment %s by the application (--block %s)", a->block == 1 ? "dropped" : "ignored",
            a->block == 1 ? "drop" : "ignore");
    } else if (conf && !dep) {
        /* hawkBit's user consent (R-NOTIFY): the user sees the message and the
         * version, then confirms or denies (--consent); the deployment follows. */
        json_t *d = get_json(a, conf, &code);
        const char *aid = d ? json_string_value(json_object_get(d, "id")) : NULL;
        json_t *chunk = NULL;
        pick_artifact(a, json_object_get(json_object_get(d, "confirmation"), "chunks"), &chunk);
        if (!aid) {
            *error = true;
        } else {
            const char *msg = NULL, *ver = json_string_value(json_object_get(chunk, "version"));
            size_t i;
            json_t *m;
            json_array_foreach(json_object_get(chunk, "metadata"), i, m)
            {
                const char *k = json_string_value(json_object_get(m, "key"));
                if (k && strcmp(k, "molt.message") == 0)
                    msg = json_string_value(json_object_get(m, "value"));
            }
            say(a, "update %s -> %s needs the user's consent (action %s)", a->running, ver ? ver : "?", aid);
            say(a, "MESSAGE FOR THE USER: %s", msg && *msg ? msg : "(none)");
            snprintf(a->notified, sizeof a->notified, "%s", aid);
            char url[1200], body[200];
            snprintf(url, sizeof url, "%s/confirmationBase/%s/feedback", a->base, aid);
            snprintf(body, sizeof body, "{\"confirmation\":\"%s\",\"details\":[\"%s by the user\"]}",
                     a->consent_no ? "denied" : "confirmed", a->consent_no ? "denied" : "confirmed");
            buf_t b = {0};
            long c = request(a, "POST", url, "application/json", body, strlen(body), &b);
            free(b.p);
            say(a, "user %s: HTTP %ld", a->consent_no ? "denied" : "confirmed", c);
            *error = c != 200;
        }
        json_decref(d);
    } else if (dep) {
        json_t *d = get_json(a, dep, &code);
        const char *aid = d ? json_string_value(json_object_get(d, "id")) : NULL;
        if (!aid) {
            *error = true;
        } else {
            bool retry = false;
            rc = deploy(a, aid, d, &retry);
            *error = retry;
        }
        json_decref(d);
    }
    /* A ticket when nothing is to be installed now (in recovery: only then; the
     * compromised application of --block ignore never asks). */
    if (rc == 0 && a->tickets && a->cfg.awdt != NULL && !(a->block == 2 && !a->boot.recovery) &&
        (!dep || (a->block != 0 && !a->boot.recovery))) {
        if (!a->attested) /* moltd judges the attested version: tell it what runs first */
            attest(a);
        ask_ticket(a);
    }
    if (rc == 0 && a->updated_in_recovery) {
        say(a, "update accepted in recovery: restart to leave it");
        rc = power_on(a, false);
    }
    json_decref(j);
    return rc;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: molt-agent -f DEV -k PUB [-k PUB ...] --server URL --id ID --token TOKEN [--tenant T]\n"
            "                  [--once | --max-polls N] [--until-update] [--health-cmd CMD | --health-fail]\n"
            "                  [--drop-after BYTES] [--power-cut-at N] [--backoff-ms MS] [--max-sleep S]\n"
            "                  [--max-errors N] [--rate BYTES_PER_S] [--quiet]\n"
            "                  [--enc-key ENC_PRIV ...] [--envelope-dir DIR] [--require-encryption]\n"
            "                  [--tickets] [--time-scale N] [--block drop|ignore]\n"
            "                  [--artifact NAME] [--defer-attempt] [--consent yes|no]\n"

            "                  [--ca-file CA.pem] [--client-cert CERT.pem [--client-key KEY.pem]]\n"
            "  (--client-cert: the device authenticates by certificate; --token is then optional)\n");
    return f == stdout ? 0 : EXIT_USAGE;
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

int main(int argc, char **argv)
{
    static agent_t ag; /* large (the device); static, not on the stack */
    agent_t *a = &ag;
    cli_prog = "molt-agent";
    a->tenant = "DEFAULT";
    a->max_polls = -1;
    a->power_cut_at = -1;
    a->backoff_ms = 1000;
    a->max_errors = 20;
    enum { O_SERVER = 256, O_ID, O_TOKEN, O_TENANT, O_ONCE, O_MAXP, O_HCMD, O_HFAIL, O_DROP, O_CUT, O_BACK, O_MSLEEP,
           O_QUIET, O_UNTIL, O_MAXERR, O_RATE, O_ENCKEY, O_ENVDIR, O_REQENC, O_TICKETS, O_TSCALE, O_BLOCK, O_ART, O_DEFER,
           O_CONSENT, O_CAFILE, O_CCERT, O_CKEY };
    const char *enc_keys[3];
    int nenc = 0;
    static const struct option opts[] = {
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
        {"client-key", required_argument, 0, O_CKEY}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "f:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': a->file = optarg; break;
        case 'k':
            if (a->ring.count >= MAX_KEYS)
                return die("at most %d keys", MAX_KEYS);
            if (!load_key(optarg, &a->keys[a->ring.count]))
                return die("%s: not a PEM public key", optarg);
            a->ring.count++;
            break;
        case O_SERVER: a->server = optarg; break;
        case O_ID: a->id = optarg; break;
        case O_TOKEN: a->token = optarg; break;
        case O_TENANT: a->tenant = optarg; break;
        case O_ONCE: a->once = true; break;
        case O_MAXP:
            if (!num(optarg, 1, 1000000, &a->max_polls))
                return die("--max-polls: a number from 1");
            break;
        case O_HCMD: a->health_cmd = optarg; break;
        case O_HFAIL: a->health_fail = true; break;
        case O_DROP:
            if (!num(optarg, 1, 1L << 40, &v))
                return die("--drop-after: a number of bytes from 1");
            a->drop_after = (uint64_t)v;
            break;
        case O_CUT:
            if (!num(optarg, 0, 1000000, &a->power_cut_at))
                return die("--power-cut-at: a flash operation number from 0");
            break;
        case O_BACK:
            if (!num(optarg, 1, 600000, &a->backoff_ms))
                return die("--backoff-ms: 1 to 600000");
            break;
        case O_MSLEEP:
            if (!num(optarg, 1, 86400, &a->max_sleep))
                return die("--max-sleep: 1 to 86400 seconds");
            break;
        case O_QUIET: a->quiet = true; break;
        case O_UNTIL: a->until_update = true; break;
        case O_RATE:
            if (!num(optarg, 1, 1L << 40, &a->rate))
                return die("--rate: bytes per second, from 1");
            break;
        case O_ENCKEY:
            if (nenc >= 3)
                return die("at most 3 --enc-key (one P-256, one X25519, one RSA-2048)");
            enc_keys[nenc++] = optarg;
            break;
        case O_ENVDIR: a->env_dir = optarg; break;
        case O_REQENC: a->require_enc = true; break;
        case O_TICKETS: a->tickets = true; break;
        case O_TSCALE:
            if (!num(optarg, 0, 1000000, &a->time_scale))
                return die("--time-scale: device seconds per second, 0 to 1000000");
            break;
        case O_BLOCK:
            if (strcmp(optarg, "drop") == 0)
                a->block = 1;
            else if (strcmp(optarg, "ignore") == 0)
                a->block = 2;
            else
                return die("--block: drop or ignore, got '%s'", optarg);
            break;
        case O_ART: a->artifact = optarg; break;
        case O_DEFER: a->defer_attempt = true; break;
        case O_CONSENT:
            if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
                return die("--consent: yes or no");
            a->consent_no = strcmp(optarg, "no") == 0;
            break;
        case O_CAFILE: net.ca_file = optarg; break;
        case O_CCERT: net.cert = optarg; break;
        case O_CKEY: net.key = optarg; break;
        case O_MAXERR:
            if (!num(optarg, 1, 1000000, &a->max_errors))
                return die("--max-errors: a number from 1");
            break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (optind != argc || !a->file || !a->server || !a->id || (!a->token && !net.cert))
        return usage(stderr);
    if (net.key && !net.cert)
        return die("--client-key needs --client-cert");
    for (const char *const *p = (const char *const[]){net.ca_file, net.cert, net.key}, *const *e = p + 3; p < e; p++)
        if (*p && access(*p, R_OK) != 0)
            return die("%s: %s", *p, strerror(errno));
    if (a->ring.count == 0)
        return die("-k PUB is required (the device's trusted signing keys)");
    if ((a->env_dir || a->require_enc) && nenc == 0)
        return die("%s needs --enc-key (the device's decryption key)", a->env_dir ? "--envelope-dir" : "--require-encryption");
    if (a->once)
        a->max_polls = 1;
    a->ring.keys = a->keys;
    snprintf(a->base, sizeof a->base, "%s/%s/controller/v1/%s", a->server, a->tenant, a->id);
    sim_res_t why;
    if (sim_device_load(&a->dev, a->file, &a->ring, &why) != MOLT_OK)
        return die("%s: %s", a->file, sim_res_str(why));
    /* The key store: the device's private encryption keys (imported into PSA,
     * never exportable: R-ASSETS) and the envelopes it has received. */
    static char env_dir[1100];
    for (int i = 0; i < nenc; i++) {
        uint8_t *der = NULL;
        size_t n = 0;
        if (!enc_key_pkcs8(enc_keys[i], &der, &n))
            return EXIT_USAGE;
        molt_err_t e = sim_keystore_add_pkcs8(&a->ks, der, n);
        OPENSSL_clear_free(der, n);
        if (e != MOLT_OK)
            return die("%s: not a P-256, X25519 or RSA-2048 private key", enc_keys[i]);
        a->has_ks = true;
    }
    if (a->has_ks) {
        if (!a->env_dir) {
            snprintf(env_dir, sizeof env_dir, "%s.envelopes", a->file);
            a->env_dir = env_dir;
        }
        int rc = env_load_dir(a);
        if (rc)
            return rc;
        sim_device_set_keystore(&a->dev, &a->ks);
    }
    a->cfg.mode = (molt_boot_mode_t)a->dev.layout.mode;
    a->cfg.downgrade_prevention = false;
    a->cfg.awdt = sim_awdt_cfg(&a->dev.aw); /* NULL: no watchdog provisioned */
    if (a->tickets && a->cfg.awdt == NULL)
        return die("%s: --tickets needs a provisioned watchdog (molt sim watchdog)", a->file);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc = power_on(a, false);
    for (long polls = 0; rc == 0 && (a->max_polls < 0 || polls < a->max_polls);) {
        long sleep_s = 300;
        bool error = false;
        rc = poll_once(a, &sleep_s, &error);
        if (rc)
            break;
        if (error) {
            if (a->max_polls > 0 && (long)a->failures + 1 >= a->max_errors) {
                say(a, "giving up after %u errors in a row", a->failures + 1);
                rc = EXIT_UNREACHABLE;
                break;
            }
            backoff(a); /* errors do not count as polls: --once means one complete poll */
            continue;
        }
        a->failures = 0;
        if (!a->attested) /* first contact of this power-on: tell moltd what runs */
            attest(a);
        polls++;
        if (a->until_update && a->closed)
            break;
        if (a->max_polls < 0 || polls < a->max_polls)
            rc = device_sleep(a, sleep_s);
    }
    dev_save(a);
    sim_device_free(&a->dev);
    sim_keystore_free(&a->ks);
    for (size_t i = 0; i < a->ring.count; i++)
        OPENSSL_free((void *)a->keys[i].der);
    net_done(a);
    curl_global_cleanup();
    return rc;
}
