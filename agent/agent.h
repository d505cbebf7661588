/*
 * agent.h - molt-agent's shared state and the functions its parts call in each other.
 *
 * The parts (docs/design.md, "molt-agent"):
 *   main.c      options, set-up, the poll loop and its back-off
 *   ddi.c       the DDI client: one kept-alive connection to moltd, requests,
 *               feedback, attestation, envelopes and tickets over HTTP
 *   download.c  the artifact download (a thread of its own) into the FWU API
 *   poll.c      what a poll asks for (cancel, consent, deployment, tickets)
 *               and the sleep between polls (device time, the watchdog)
 *   driver.c    the update driver: power-on and one deployment's way through
 *               the FWU states (download, install, restart, trial, health,
 *               accept or reject, feedback)
 *   offer.c     reading a hawkBit-shaped deployment (artifact, modes, message)
 *   envelopes.c key envelope storage (R-ONEPKG)
 *   health.c    the health check of a trial image
 *   events.c    the NDJSON event stream (--events)
 *   device.h    the device adapter; dev_sim.c its simulator implementation
 */
#ifndef MOLT_AGENT_H
#define MOLT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "device.h"
#include "molt/enc.h"

#define EXIT_USAGE 2
#define EXIT_POWERCUT 3
#define EXIT_UNREACHABLE 4
#define AGENT_ENVELOPES 4 /* key envelopes kept (the simulated key store's capacity) */

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
    bool tickets;             /* ask moltd for deferral tickets (R-AVAIL) */
    long time_scale;          /* device seconds per second slept (0: device time stands still) */
    int block;                /* 0 none, 1 drop, 2 ignore: the application as an attacker */
    const char *artifact;     /* --artifact NAME: the artifact to take (else chosen by kind) */
    bool defer_attempt;       /* --defer-attempt: "attempt" updates are downloaded, not installed */
    bool consent_no;          /* --consent no: the user denies confirmation requests */
    /* the device */
    agent_device_t dev;
    agent_boot_t boot;        /* what the boot code decided at the last power-on */
    bool has_ks;              /* the device has a key store (--enc-key) */
    /* key envelopes (envelopes.c) */
    uint8_t env[AGENT_ENVELOPES][MOLT_ENV_MAX];
    size_t env_len[AGENT_ENVELOPES];
    unsigned nenv;
    char env_action[32];      /* the action whose envelope was fetched this run */
    /* run */
    char base[1024];          /* {server}/{tenant}/controller/v1/{id} */
    uint64_t dropped_bytes;   /* artifact bytes received this run (for --drop-after) */
    bool dropped;
    char note[768];           /* what happened across a restart (health check) */
    unsigned failures;        /* consecutive errors, for the back-off */
    bool attested;            /* a token was accepted since this power-on */
    char notified[32];        /* the action whose message was shown */
    char action[32];          /* the deployment being driven (for events) */
    bool closed;              /* a deployment was closed (final feedback accepted) */
    volatile int abort_dl;    /* set by the polling thread: the deployer cancels */
    long sleep_s;             /* the last config.polling.sleep */
    bool updated_in_recovery; /* an update was accepted during recovery: restart to leave it */
    char downloaded_sent[32]; /* the action told "downloaded" while its install waits */
} agent_t;

/* --- main.c --------------------------------------------------------------------- */
void say(const agent_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sleep_ms(long ms);

/* --- events.c: the NDJSON stream (docs/agent.md, "Events") ------------------------ */
bool ev_open(const char *path);
void ev_close(void);
/* One event: name, then key/value pairs as jansson's json_pack format
 * ("{s:s,s:I}", ...) or NULL for none. Thread-safe. */
void ev(const agent_t *a, const char *name, const char *fmt, ...);
/* The error event: a fixed code (docs/agent.md lists them) and a detail. */
void ev_error(const agent_t *a, const char *code, const char *detail);

/* --- ddi.c: the connection to moltd ------------------------------------------------ */
typedef struct buf {
    char *p;
    size_t n;
} buf_t;
typedef struct ddi_tls {
    const char *ca_file, *cert, *key;
} ddi_tls_t;
void ddi_init(const ddi_tls_t *tls);
void ddi_done(const agent_t *a);
bool ddi_has_cert(void);
long ddi_request(agent_t *a, const char *method, const char *url, const char *type, const void *body, size_t len,
                 buf_t *out);
json_t *ddi_get_json(agent_t *a, const char *url, long *code);
bool ddi_feedback(agent_t *a, const char *aid, const char *execution, const char *finished, const char *detail,
                  long cnt, long of);
bool ddi_attest(agent_t *a);
bool ddi_envelope(agent_t *a, const char *url, char *why, size_t cap);
bool ddi_ticket(agent_t *a);
/* The download's use of the connection (download.c). */
void *ddi_download_handle(const agent_t *a, void **headers);
void ddi_download_release(void *handle, void *headers);
void ddi_set_downloading(bool on);

/* --- download.c ---------------------------------------------------------------------- */
/* Download [off, size) of url into the FWU staging area in a thread of its own,
 * polling moltd meanwhile for a cancel. true when complete; else why. */
bool download_bg(agent_t *a, const char *url, uint64_t off, uint64_t size, char *why, size_t whycap);
const char *psa_name(psa_status_t s);

/* --- envelopes.c ----------------------------------------------------------------------- */
bool env_keep(agent_t *a, const uint8_t *e, size_t len, bool save, char *why, size_t cap);
int env_load_dir(agent_t *a);

/* --- health.c -------------------------------------------------------------------------- */
bool health_check(agent_t *a, char *why, size_t cap);

/* --- offer.c: a deployment as a hawkBit-shaped server offers it ------------------------- */
typedef struct offer {
    json_t *art, *chunk;
    const char *ver, *url, *env_url, *msg;
    const char *dl, *up, *mw; /* download / update modes, maintenance window (NULL: forced) */
    bool no_download, no_install;
    bool keyset;              /* a key-update (chunk part "molt-keyset"): into the key-set component */
    json_int_t size;
} offer_t;
json_t *pick_artifact(const agent_t *a, json_t *chunks, json_t **chunk);
const char *chunk_message(json_t *chunk);
void offer_read(const agent_t *a, json_t *dep, offer_t *o);
bool version_same(const char *mine, const char *theirs);

/* --- driver.c ----------------------------------------------------------------------------- */
/* The selected FWU component's query answer; state 0xff when the device does not answer. */
psa_fwu_component_info_t agent_query(agent_t *a);
/* Power on or restart (reason: power_on, activate, revert, watchdog, leave_recovery). */
int power_on(agent_t *a, bool cut, const char *reason);
bool dev_save(agent_t *a);
int deploy(agent_t *a, const char *aid, json_t *dep, bool *retry);
/* keyset.c: a key-update offer, through the key-set component */
int deploy_keyset(agent_t *a, const char *aid, const offer_t *o, bool *retry);

/* --- poll.c --------------------------------------------------------------------------------- */
int poll_once(agent_t *a, long *sleep_s, bool *error);
int device_sleep(agent_t *a, long s);

#endif
