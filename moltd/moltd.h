/*
 * moltd.h - the deployer service: shared state, request context and the
 * functions its files offer one another. docs/design.md ("moltd layout") shows
 * the files and their layers; docs/moltd.md is the reference of the API.
 *
 * Layers, top down: http.c (libmicrohttpd glue) -> routes.c (every URL, the
 * role it needs) -> one file per resource (admin, packages, devices,
 * campaigns, ddi, attest, envelope, ticket, views, ui) -> the rules that know
 * nothing of HTTP (rollout.c; pkg.c, swu.c verify packages) -> storage
 * (dbconn.c, audit.c, last_seen.c, artifacts.c over db.h).
 */
#ifndef MOLTD_H
#define MOLTD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "molt_host/util.h" /* host_hex: the host utility */
#include "molt_host/keyupdate.h"
#include "db.h"
#include "molt/image.h"

/* Bounds of one device's attributes (PUT configData), after a change. */
#define MOLTD_ATTR_MAX_KEYS 64
#define MOLTD_ATTR_MAX_BYTES 4096

typedef enum role {
    ROLE_NONE = 0,
    ROLE_VIEWER = 1,
    ROLE_OPERATOR = 2,
    ROLE_ADMIN = 3
} role_t;

typedef struct moltd {
    db_t *db;                     /* the main thread's connection (start-up, migrations) */
    const char *db_url;           /* each HTTP worker thread opens its own connection (srv_db) */
    pthread_mutex_t lock;         /* guards db when a worker could not open its own connection */
    pthread_mutex_t pool_lock;    /* guards pool[] */
    pthread_mutex_t crypto_lock;  /* lib/'s crypto backend (Mbed TLS PSA) is one context: one verification at a time */
    pthread_mutex_t write_lock;   /* SQLite: one write transaction at a time (readers run in parallel) */
    db_t *pool[80];               /* the workers' connections, closed at shutdown */
    unsigned npool;
    const char *artifact_dir;     /* content-addressed store: <dir>/<sha256> */
    const char *artifact_base_url;/* downloads redirect to <url>/<sha256> when set */
    const char *tenant;           /* the DDI tenant (hawkBit's default is DEFAULT) */
    char admin_hash[65];          /* SHA-256 of the bootstrap admin token, hex */
    unsigned poll_sleep;          /* seconds, served as config.polling.sleep */
    size_t max_json;              /* body limit of JSON requests */
    size_t max_package;           /* body limit of package uploads */
    size_t max_feedback;          /* body limit of DDI feedback (suricatta sends its log) */
    bool test_unverified_swu;     /* TEST ONLY (--test-accept-unverified-swu): swu uploads skip the signature and hash checks */
    unsigned attest_ttl;          /* seconds an attestation challenge stays valid */
    bool has_kek;                 /* --kek-file given: encrypted packages are accepted */
    uint8_t kek[32];              /* wraps every content key at rest (AES-256-GCM) */
    char host[64];                /* this host's name, in the names of unfinished uploads */
    unsigned per_ip;              /* connections one client address may hold (0: no limit) */
    unsigned header_timeout;      /* seconds from accept to a request's complete headers */
    unsigned conn_timeout;        /* idle seconds, and the deadline of later requests' headers */
    EVP_PKEY *ticket_key;         /* --ticket-key: signs deferral tickets (ticket.c); NULL: none */
    char *ticket_pub_pem;         /* its public part, SPKI PEM (GET /api/v1/ticketkey) */
    /* --trusted-proxy: the addresses of the TLS-terminating proxies (load
     * balancers). Only a request whose TCP peer is one of them may speak through
     * X-Forwarded-Proto and the client-certificate headers; from anyone else
     * those headers are ignored. */
    uint32_t proxies[16];         /* IPv4, network byte order */
    unsigned nproxies;
    const char *cert_issuer;      /* --client-cert-issuer: X-Ssl-Issuer-Hash-1 the proxy sends; NULL: mode off */
} moltd_t;

/* One HTTP request, from its headers to its completion. */
typedef struct req {
    moltd_t *srv;
    struct MHD_Connection *conn;
    const char *method;
    char *url;                    /* copy, split into seg[] */
    char *seg[12];
    int nseg;
    /* body */
    bool to_file;                 /* package upload: streamed to tmp_path */
    char *body;
    size_t body_len, body_cap;
    int fd;
    char tmp_path[4096];
    bool too_large;
    int store_errno;              /* the upload could not be written (507 with its cause) */
    bool answered;                /* a response was queued before the body was read */
    /* who is asking */
    role_t role;                  /* management API */
    char actor[160];              /* for the audit log: "token:NAME", "admin", "device:ID" */
    char device[72];              /* DDI: the authenticated controller id */
    bool gateway;                 /* DDI: authenticated by the tenant's gateway token */
} req_t;

/* --- http.c ---------------------------------------------------------------- */
int http_reply(req_t *r, unsigned status, const char *type, const void *body, size_t len);
int http_json(req_t *r, unsigned status, json_t *j);  /* steals j */
/* Does an If-None-Match header value (NULL: none) name etag (or "*")? */
bool http_etag_matches(const char *h, const char *etag);
/* An answer without a body, with up to two headers (h2 NULL: one; h1 NULL: none). */
int http_empty(req_t *r, unsigned status, const char *h1, const char *v1, const char *h2, const char *v2);
int http_error(req_t *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A database failure: 507 when the disk (or quota) is full, else 500; the
 * message is the database's first error, not the rollback's. */
int http_db_error(req_t *r);
const char *http_header(req_t *r, const char *name);
const char *http_arg(req_t *r, const char *name);
/* Parse the request body as a JSON object; on failure replies 400 and returns NULL. */
json_t *http_body_json(req_t *r, int *ret);
struct MHD_Daemon *http_start(moltd_t *srv, const char *addr, uint16_t port, unsigned threads);
void http_stop(struct MHD_Daemon *d);
uint16_t http_port(struct MHD_Daemon *d);
/* "https" when the request came through a trusted proxy that says so
 * (X-Forwarded-Proto: https), else "http": the scheme of the links moltd sends. */
const char *http_scheme(req_t *r);
/* Did the request come from a --trusted-proxy address (the TCP peer)? */
bool http_from_proxy(req_t *r);

/* --- auth.c: who is asking --------------------------------------------------- */
/* Authenticate from headers alone (before any body is read). Returns 0 when the
 * request may go on, or an MHD result after queueing the refusal. */
int mgmt_auth(req_t *r, bool *refused);
int ddi_auth(req_t *r, bool *refused);
/* The device API by client certificate, through a trusted proxy; *handled is
 * false when the request is not one (ddi_auth then decides). */
int ddi_cert_auth(req_t *r, bool *refused, bool *handled);
const char *role_name(role_t r);
role_t role_parse(const char *s);
/* Has the request's token the role? If not, *ret is the 403 answer. */
bool need_role(req_t *r, role_t role, int *ret);

/* --- routes.c: every URL ------------------------------------------------------ */
bool route_is_mgmt(const req_t *r);   /* /api/v1/... */
bool route_is_ddi(const req_t *r);    /* /{tenant}/controller/v1/{id}/... */
/* A complete request to its handler (or 404). */
int route_request(req_t *r);
int mgmt_dispatch(req_t *r);
/* After mgmt_auth, still from the headers alone: role and upload parameters. */
int mgmt_precheck(req_t *r, bool *refused);
int ddi_dispatch(req_t *r);

/* --- jsonrows.c: database rows as JSON answers -------------------------------- */
/* Rows as an array of objects keyed by names[] (NULL cells -> null; names
 * starting with '#' are numbers); row_json: row i alone (null if none). */
json_t *rows_json(const db_rows_t *rows, const char *const *names);
json_t *row_json(const db_rows_t *rows, const char *const *names, size_t i);
/* Answer 200 with the rows of sql (p1: its one parameter, or NULL). */
int rows_list(req_t *r, const char *sql, const char *const *names, const char *p1);
const char *str_field(json_t *o, const char *key);  /* a string member, or NULL */
void now_str(char *out, size_t cap);                /* now_ms() as decimal text */

/* --- the management API's resources (routes.c checks the role first) --------- */
/* admin.c */
int tokens_create(req_t *r);
int tokens_revoke(req_t *r, const char *name);
int tokens_list(req_t *r);
int signers_create(req_t *r);
int signers_list(req_t *r);
int classes_create(req_t *r);
int classes_list(req_t *r);
int audit_get(req_t *r);
/* packages.c. precheck: from the headers, before the body; true when refused
 * (*ret is the answer). */
bool packages_precheck(req_t *r, int *ret);
int packages_upload(req_t *r);
int packages_get(req_t *r, const char *id);   /* id NULL: all */
/* devices.c */
int devices_create(req_t *r);
int devices_get(req_t *r, const char *id);    /* id NULL: all */
/* campaigns.c */
int campaigns_create(req_t *r);
int campaigns_get(req_t *r, const char *id);  /* id NULL: all */
int campaigns_control(req_t *r, const char *id, const char *op);

/* --- ddi.c: the device API (hawkBit DDI shape) --------------------------------- */
/* download.c: an artifact's bytes (Range, If-Range, ETag, .MD5SUM, mirror) */
int ddi_download(req_t *r, const char *pkgid, const char *fname);
int ddi_poll_base(req_t *r);
int ddi_deployment_base(req_t *r, const char *aid);
int ddi_deployment_feedback(req_t *r, const char *aid);
int ddi_cancel_action(req_t *r, const char *aid, bool feedback);
int ddi_config_data(req_t *r);
int ddi_artifact_list(req_t *r, const char *pkgid);
int ddi_installed_base(req_t *r, const char *aid);
int ddi_installed_put(req_t *r);
int ddi_confirmation_root(req_t *r);
int ddi_confirmation_get(req_t *r, const char *aid);
int ddi_confirmation_feedback(req_t *r, const char *aid);
/* campaigns.c: a campaign body's DDI fields (download, update, polling_sleep,
 * maintenance_windows, confirm): NULL when valid (*ddi: compact JSON to store,
 * malloc'd, or NULL for all defaults), else the 400 message (may be why). */
const char *ddi_campaign_parse(json_t *j, char **ddi, char *why, size_t cap);
/* Feedback messages kept per action for actionHistory. */
#define ACTION_MESSAGES_MAX 200
/* attest.c: GET/POST .../molt/attestation (challenge, token upload) */
int attest_dispatch(req_t *r);

/* --- ticket.c: deferral tickets (R-AVAIL) ----------------------------------- */
/* Load the ticket key (PEM, ECDSA P-256). false: *why says why, in one line. */
bool ticket_key_load(moltd_t *srv, const char *path, char *why, size_t cap);
/* After the migration: the ticket key must not be an image signer's key. */
bool ticket_key_check(moltd_t *srv, char *why, size_t cap);
void ticket_key_free(moltd_t *srv);
/* POST .../molt/ticket */
int ticket_issue(req_t *r);
/* /api/v1/ticketkey, /api/v1/classes/{name}/ticketpolicy, /api/v1/devices/{id}/quarantine */
bool ticket_mgmt_match(const req_t *r);
int ticket_mgmt_dispatch(req_t *r);
/* Record when moltd released a campaign step to its devices (step NULL: every
 * released step, on resume), inside the caller's transaction: a ticket's grace
 * counts from it. */
db_status_t ticket_step_released(moltd_t *srv, const char *campaign_id, const char *step);

/* --- envelope.c: encrypted packages (content keys, per-device envelopes) ---- */
/* Read the key-encryption key (first line: 64 hex digits). false: *why says why. */
bool kek_load(moltd_t *srv, const char *path, char *why, size_t cap);
/* At start-up: the KEK must open a stored content key. false: *why says why;
 * a warning is printed when keys are stored and no KEK was given. */
bool kek_check(moltd_t *srv, char *why, size_t cap);
/* The content key of package sha256, wrapped under the KEK (hex, malloc'd). */
char *content_key_wrap(const moltd_t *srv, const char *sha256, const uint8_t *key, size_t len);
/* Parse X-Molt-Content-Key (hex); false for a malformed value. */
bool content_key_parse(const char *hex, uint8_t key[32], size_t *len);
/* Can a device with this encryption key (PEM, may be NULL) open envelopes? */
bool envelope_capable(const char *enc_key_pem);
/* GET .../molt/keyEnvelope/{actionId} */
int envelope_get(req_t *r, const char *aid);

/* --- pkg.c ----------------------------------------------------------------- */
typedef struct pkg_info {
    char sha256[65], sha1[41], md5[33];
    uint64_t size;
    char version[48];             /* "1.2.3+4" */
    char version_key[48];         /* sortable: "001.002.00003.0000000004" */
    uint32_t sec_cnt;
    int signer;                   /* index into the keys given */
    char why[200];                /* refusal reason */
    const char *why_name;         /* refusal reason id (molt_err_name) */
    char encryption[16];          /* "aes-128-ctr" / "aes-256-ctr", "" for a plain package */
    char binding[132];            /* encrypted: hex of hash TLV type (1 byte) || hash TLV value */
} pkg_info_t;
/* Hash and verify the file at path against der keys. An encrypted package needs
 * its content key ck (ck_len bytes; NULL for none) and is verified decrypted,
 * as a device does. Returns 0 valid, 1 refused (why/why_name set), -1 I/O
 * error (why set). */
int pkg_check(const char *path, const uint8_t *const *der, const size_t *der_len, size_t nkeys, const uint8_t *ck,
              size_t ck_len, pkg_info_t *info);
/* An image version as its sortable key, "001.002.00003.0000000004": the
 * packages table orders by it (R-DEPLOY-VERSION). */
void pkg_version_key(const molt_version_t *v, char out[48]);
/* Open and map the upload at path and hash it (sha256, sha1, md5); info is
 * reset first. 0 mapped (munmap *map, info->size bytes), 1 refused (empty, or
 * larger than max: why, why_name), -1 I/O error (why). */
int pkg_map(const char *path, uint64_t max, pkg_info_t *info, void **map);
/* Parse a PEM public (or private) key; writes its DER as lib/ wants it (malloc'd)
 * and a type name. Returns false if it is not a key. */
bool pkg_parse_pem(const char *pem, uint8_t **der, size_t *der_len, const char **type);
/* The public key of a PEM certificate, as a PEM public key (malloc'd), and the
 * certificate's subject; NULL if pem is not a certificate. */
char *signer_cert_key(const char *pem, char *subject, size_t cap);
/* A PEM public (or private) key as OpenSSL's; NULL if it is not one. */
EVP_PKEY *pkg_pem_key(const char *pem);

/* --- rotation.c: trusted-key rotation (docs/keys.md "Delivery") -------------- */
/* /api/v1/classes/{name}/rotation (PUT admin, GET viewer) */
bool rotation_match(const req_t *r);
int rotation_dispatch(req_t *r);
/* The class's key set: its signers (the factory table) moved forward by its
 * stored key-updates, then by cand (may be NULL), all through lib/. 0 done
 * (out->err: lib/'s verdict), 1 the class has no rotation keys, -1 failure. */
int class_keyset(moltd_t *srv, const char *cls, const uint8_t *cand, size_t cand_len, host_keyset_t *out);

/* --- swu.c: SWUpdate packages ------------------------------------------------ */
/* Parse the cpio archive at path, verify sw-description's CMS signature against
 * the signers (PEM certificates or public keys; skipped when !verify, test mode
 * only) and every listed artifact's sha256; fills the hashes, version,
 * version_key and signer. Returns 0 valid, 1 refused (why, why_name), -1 I/O. */
int swu_check(const char *path, const char *const *pems, size_t npems, bool verify, pkg_info_t *info);

/* --- util.c ------------------------------------------------------------------ */
void sha256_hex(const void *data, size_t len, char out[65]);
bool random_token(char *out, size_t len);  /* len alphanumeric chars + NUL */
int64_t now_ms(void);
/* Lower-case hex to bytes (malloc'd); NULL if malformed. Bytes to hex: host_hex
 * (the host utility, host/util.c). */
uint8_t *hex_decode(const char *hex, size_t *len);
bool valid_name(const char *s, size_t max);   /* [A-Za-z0-9._-], 1..max chars */
/* A numeric row id as the URL gives it (1 to 18 digits): anything else names
 * nothing, on every backend (PostgreSQL would refuse to compare it to a BIGINT). */
bool num_id(const char *s);

/* --- artifacts.c: the content-addressed store on disk -------------------------- */
/* At start-up, before serving: sweep unfinished uploads of dead moltd processes
 * and artifacts no package names. Prints what it did to stderr. */
void artifacts_reconcile(moltd_t *srv);
/* Move a verified upload into place (rename, then fsync the directory); false
 * with errno from rename. */
bool artifact_commit(const moltd_t *srv, const char *tmp_path, const char *path);

/* --- audit.c ------------------------------------------------------------------- */
/* Append an audit record (inside the caller's transaction). */
db_status_t audit(moltd_t *srv, const char *actor, const char *what, const char *object, const char *before,
                  const char *after, const char *detail);
/* --- dbconn.c, last_seen.c: connections, transactions, batched last_seen -------- */
/* The calling thread's connection: each HTTP worker thread has its own (opened
 * on first use), so requests run in parallel — PostgreSQL's row locks and the
 * conditional updates keep them correct, as between instances; SQLite (WAL)
 * reads in parallel and writes one transaction at a time (BEGIN IMMEDIATE).
 * A thread that cannot open one shares the main connection under srv->lock. */
db_t *srv_db(moltd_t *srv);
/* The main thread uses srv->db itself (before the HTTP workers start). */
void srv_db_bind_main(moltd_t *srv);
/* last_seen, batched: a poll notes it; a thread writes the notes of each second
 * in one transaction (last_seen_start/stop around the HTTP daemon). */
void last_seen_note(moltd_t *srv, const char *device, int64_t t);
bool last_seen_start(moltd_t *srv);
void last_seen_stop(moltd_t *srv);
/* Close the workers' connections (after the HTTP daemon stopped). */
void srv_db_close_all(moltd_t *srv);
/* srv_lock/srv_unlock: only a thread sharing the main connection locks. tx_end
 * commits when ok, else rolls back. */
void srv_lock(moltd_t *srv);
void srv_unlock(moltd_t *srv);
bool tx_begin(moltd_t *srv);
bool tx_end(moltd_t *srv, bool ok);
/* --- rollout.c: the publication rules (no HTTP) --------------------------------- */
/* After an action closes, or on resume: pause on too many failures (when
 * count_failures), advance the rollout step when the released steps are done,
 * finish the campaign after the last one. Inside the caller's transaction. */
db_status_t campaign_evaluate(moltd_t *srv, const char *campaign_id, bool count_failures);
/* Lock a campaign's row till commit (first, before its actions: one lock order). */
db_status_t campaign_lock(moltd_t *srv, const char *campaign_id);
/* Adjust the open and failed counters of one step (campaign_steps), in the
 * transaction that changes an action's state. */
db_status_t step_count(moltd_t *srv, const char *campaign_id, const char *step, long d_open, long d_failed);
/* What a rule decided; the handler turns it into an answer. */
typedef enum rollout {
    ROLLOUT_OK = 0,
    ROLLOUT_DB,           /* a database failure (db->err) */
    ROLLOUT_BEGIN,        /* the transaction could not begin */
    ROLLOUT_NO_PACKAGE,   /* create: no such package */
    ROLLOUT_NO_TARGET,    /* create: no device of the class matches */
    ROLLOUT_RACE,         /* create: a target got an open update meanwhile */
    ROLLOUT_NO_CAMPAIGN,  /* control: no such campaign */
    ROLLOUT_BAD_STATE,    /* control: the operation does not apply to its state */
    ROLLOUT_CHANGED       /* control: changed meanwhile by another instance */
} rollout_t;
/* A new campaign, as checked by campaigns.c (text fields as stored). */
typedef struct campaign_spec {
    const char *name, *msg, *actor;   /* msg may be NULL */
    char pkgid[24], thrs[8], starts[24], now[24];
    char steps[256];                  /* "10,50,100" */
    json_t *ids, *attrs;              /* the filter's (borrowed; NULL: none) */
    size_t nids;
    char *filter_s, *ddi;             /* compact JSON to store, or NULL */
} campaign_spec_t;
typedef struct campaign_made {
    char id[24];
    size_t targets;
    char cls[72], version[48];        /* the package's (for a refusal's message too) */
} campaign_made_t;
/* Choose the targets (the package's class, the filter, no open update, not on
 * the version yet), create the campaign, its actions in their steps and the
 * steps' counters, with its audit record. Inside the caller's transaction. */
rollout_t rollout_create(moltd_t *srv, const campaign_spec_t *c, campaign_made_t *out);
/* op: pause, resume, cancel. *state: the campaign's state before. Inside the
 * caller's transaction. */
rollout_t rollout_control(moltd_t *srv, const char *id, const char *op, const char *actor, char state[16]);
/* --- rollout.c, the DDI side: what a device is offered, what its feedback does --- */
/* What the device is told for one action: hawkBit's download/update modes, the
 * maintenance window (update is skip outside it, as hawkBit serves it), the
 * polling interval and whether the user must confirm first. */
typedef struct modes {
    char download[8], update[8];
    const char *window; /* NULL (no windows), "available" or "unavailable" */
    unsigned sleep;     /* 0: moltd's --poll-sleep */
    bool confirm;
} modes_t;

/* forced, attempt or skip */
bool rollout_mode_ok(const char *m);
/* A campaign's stored DDI modes (its ddi column, NULL: defaults), as of now. */
void rollout_modes(const char *ddi, modes_t *m);
/* The open action of the device that may be shown now, if any. */
typedef struct open_action {
    char id[24], state[16];
    bool found;
    bool waits;    /* the user must confirm it first (confirmationBase) */
    modes_t modes; /* its campaign's DDI modes */
} open_action_t;

/* The device's open action it may see now (the release rule), if any. */
db_status_t rollout_open_action(moltd_t *srv, const char *dev, open_action_t *a);
/* What a feedback does to an action: its next state, the audit record, whether
 * it closes the action and whether the device then runs the new version. */
typedef struct fb_effect {
    const char *to, *what;
    bool closes, installs;
} fb_effect_t;

/* The rule for a feedback (execution exec, result fin) on an action in state,
 * of a campaign with these DDI modes (ddi column). */
fb_effect_t rollout_feedback(const char *state, const char *exec, const char *fin, const char *ddi);
/* The release rule, as SQL over actions a JOIN campaigns c (now: the parameter
 * holding now_ms()): an action a device may see and act on is one it started
 * (any state but assigned, or its deployment was served), or one whose campaign
 * runs, whose step is released and whose start_at has come. Every action
 * endpoint applies it (poll, deploymentBase, feedback, keyEnvelope). */
#define ACTION_RELEASED(now)                                                                                 \
    "(a.state <> 'assigned' OR a.notified IS NOT NULL OR (c.state = 'running' AND a.step <= c.step"          \
    " AND c.start_at <= " now "))"
/* Run sql with the given text parameters. */
#define Q(srv, out, sql, ...)                                                                                  \
    db_exec(srv_db(srv), (sql), (int)(sizeof((const char *[]){NULL, __VA_ARGS__}) / sizeof(const char *)) - 1, \
            ((const char *[]){NULL, __VA_ARGS__}) + 1, (out))
#define Q0(srv, out, sql) db_exec(srv_db(srv), (sql), 0, NULL, (out))

#endif
