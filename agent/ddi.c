/*
 * ddi.c - molt-agent's DDI client: HTTP (libcurl) to moltd's device API.
 *
 * One connection for a whole update cycle: every request and the download use
 * one curl easy handle, kept for the life of the process (curl_easy_reset
 * between transfers keeps its connection), so poll, deploymentBase, the
 * envelope, the Range download, feedback and attestation reuse one kept-alive
 * connection. The download runs in its own thread (R-BACKGROUND) while the
 * main one keeps polling: those polls use a second handle, so a handle is only
 * ever used by one thread at a time (libcurl's shared connection cache is not
 * thread-safe, its known bug 11.11, so no cache is shared between threads); the
 * download thread is joined before the main handle is used again. A new
 * connection opens only for those polls beside a download, or when the server
 * closed the idle one. --ca-file verifies the server's certificate (moltd
 * behind a TLS proxy) against that CA; --client-cert/--client-key authenticate
 * the device by certificate, and then no TargetToken is needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent.h"
#include "molt_host/util.h"
#include "molt/attest.h"

static struct {
    ddi_tls_t tls;
    CURL *main, *side;        /* side: polls while the download thread holds main */
    bool downloading;         /* set and read by the polling thread only */
    long connects, transfers; /* for the summary at exit */
} net;

void ddi_init(const ddi_tls_t *tls)
{
    net.tls = *tls;
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool ddi_has_cert(void)
{
    return net.tls.cert != NULL;
}

void ddi_set_downloading(bool on)
{
    net.downloading = on;
}

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
    if (net.tls.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, net.tls.ca_file);
    if (net.tls.cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, net.tls.cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, net.tls.key ? net.tls.key : net.tls.cert);
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

void ddi_done(const agent_t *a)
{
    say(a, "connections: %ld opened for %ld requests", net.connects, net.transfers);
    ev(a, "connections", "{s:I,s:I}", "opened", (json_int_t)net.connects, "requests", (json_int_t)net.transfers);
    if (net.main)
        curl_easy_cleanup(net.main);
    if (net.side)
        curl_easy_cleanup(net.side);
    curl_global_cleanup();
}

/* The download thread's handle (the main one: polls take the side one
 * meanwhile) with the device's authorization; NULL if there is none. */
void *ddi_download_handle(const agent_t *a, void **headers)
{
    CURL *c = net_handle(&net.main);
    if (!c)
        return NULL;
    struct curl_slist *h = net_auth(a, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    *headers = h;
    return c;
}

void ddi_download_release(void *handle, void *headers)
{
    net_count(handle);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
}

/* One request; returns the HTTP status (0: no answer), the body in *out. From
 * the polling thread only (the download thread has download.c). */
long ddi_request(agent_t *a, const char *method, const char *url, const char *type, const void *body, size_t len,
                 buf_t *out)
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
    else {
        say(a, "%s %s: %s", method, url, curl_easy_strerror(rc));
        ev(a, "error", "{s:s,s:s,s:s,s:s}", "code", "transport", "method", method, "url", url, "detail",
           curl_easy_strerror(rc));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    return code;
}

json_t *ddi_get_json(agent_t *a, const char *url, long *code)
{
    buf_t b = {0};
    *code = ddi_request(a, "GET", url, NULL, NULL, 0, &b);
    json_error_t e;
    json_t *j = *code == 200 && b.p ? json_loads(b.p, 0, &e) : NULL;
    if (*code && *code != 200) {
        say(a, "GET %s: HTTP %ld %s", url, *code, b.p ? b.p : "");
        ev(a, "error", "{s:s,s:s,s:s,s:I,s:s}", "code", "http", "method", "GET", "url", url, "status",
           (json_int_t)*code, "detail", b.p ? b.p : "");
    }
    free(b.p);
    return j;
}

/* DDI feedback for action aid. finished: success | failure | none. */
bool ddi_feedback(agent_t *a, const char *aid, const char *execution, const char *finished, const char *detail,
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
    long code = s ? ddi_request(a, "POST", url, "application/json", s, strlen(s), &b) : 0;
    free(s);
    bool ok = code == 200 || code == 410; /* 410: already closed (an earlier run's feedback arrived) */
    if (!ok)
        say(a, "feedback %s/%s: HTTP %ld %s", execution, finished, code, b.p ? b.p : "");
    ev(a, ok ? "feedback_sent" : "feedback_failed", "{s:s,s:s,s:s,s:s,s:I}", "action", aid, "execution", execution,
       "finished", finished, "detail", detail ? detail : "", "status", (json_int_t)code);
    if (ok && strcmp(execution, "closed") == 0)
        a->closed = true;
    free(b.p);
    return ok;
}

/* The challenge's nonce, from hex; false if there is none. */
static bool attest_nonce(json_t *j, uint8_t *nonce, size_t cap, size_t *nlen)
{
    const char *hex = j ? json_string_value(json_object_get(j, "nonce")) : NULL;
    *nlen = hex ? strlen(hex) / 2 : 0;
    return hex && host_parse_hex(hex, nonce, cap, nlen);
}

/* R-ATTEST: answer a fresh challenge from moltd with a token over what runs now. */
bool ddi_attest(agent_t *a)
{
    char url[1200];
    snprintf(url, sizeof url, "%s/molt/attestation", a->base);
    long code;
    json_t *j = ddi_get_json(a, url, &code);
    uint8_t nonce[64];
    size_t nlen = 0;
    bool ok = attest_nonce(j, nonce, sizeof nonce, &nlen);
    json_decref(j);
    if (!ok) {
        say(a, "attestation: no challenge (HTTP %ld)", code);
        ev(a, "attest", "{s:b,s:s,s:I}", "ok", 0, "stage", "challenge", "status", (json_int_t)code);
        return false;
    }
    uint8_t tok[MOLT_ATTEST_TOKEN_MAX];
    size_t len = 0;
    molt_err_t e = a->dev.attest(a->dev.ctx, nonce, nlen, tok, sizeof tok, &len);
    if (e != MOLT_OK) {
        say(a, "attestation: the device cannot sign a token: %s", molt_err_str(e));
        ev(a, "attest", "{s:b,s:s,s:s}", "ok", 0, "stage", "token", "error", molt_err_name(e));
        return false;
    }
    buf_t b = {0};
    code = ddi_request(a, "POST", url, "application/cbor", tok, len, &b);
    say(a, "attestation: %zu-byte token, %s %s", len, code == 200 ? "verified by moltd:" : "REFUSED:",
        b.p ? b.p : "");
    ev(a, "attest", "{s:b,s:s,s:I,s:I,s:s}", "ok", code == 200, "stage", "verify", "bytes", (json_int_t)len,
       "status", (json_int_t)code, "reply", b.p ? b.p : "");
    free(b.p);
    a->attested = a->attested || code == 200;
    return code == 200;
}

/* R-ONEPKG: this device's key envelope for the deployment's package. */
bool ddi_envelope(agent_t *a, const char *url, char *why, size_t cap)
{
    buf_t b = {0};
    long code = ddi_request(a, "GET", url, NULL, NULL, 0, &b);
    bool ok = code == 200 && b.p && env_keep(a, (const uint8_t *)b.p, b.n, true, why, cap);
    if (code != 200)
        snprintf(why, cap, "GET %s: HTTP %ld %s", url, code, b.p ? b.p : "");
    if (ok)
        say(a, "key envelope: %zu bytes for this device, kept for the boot code", b.n);
    ev(a, "envelope", "{s:s,s:b,s:I,s:I,s:s}", "action", a->action, "ok", ok, "bytes", (json_int_t)b.n, "status",
       (json_int_t)code, "detail", ok ? "" : why);
    free(b.p);
    return ok;
}

/* The ticket moltd signs for nonce (hex), into t; false (and why) if refused. */
static bool ticket_request(agent_t *a, const char *hex, uint8_t *t, size_t cap, size_t *tl)
{
    char url[1200], body[96];
    snprintf(url, sizeof url, "%s/molt/ticket", a->base);
    snprintf(body, sizeof body, "{\"nonce\":\"%s\"}", hex);
    buf_t b = {0};
    long code = ddi_request(a, "POST", url, "application/json", body, strlen(body), &b);
    json_error_t je;
    json_t *j = code == 200 && b.p ? json_loads(b.p, 0, &je) : NULL;
    const char *th = j ? json_string_value(json_object_get(j, "ticket")) : NULL;
    bool ok = th != NULL && host_parse_hex(th, t, cap, tl);
    if (!ok) {
        say(a, "ticket: refused by moltd (HTTP %ld %s)", code, b.p ? b.p : "");
        ev(a, "ticket_refused", "{s:s,s:I,s:s}", "by", "moltd", "status", (json_int_t)code, "detail",
           b.p ? b.p : "");
    }
    json_decref(j);
    free(b.p);
    return ok;
}

/* A deferral ticket (R-AVAIL): a nonce from the device's update service, moltd
 * signs (or refuses: the reason is printed; OUTDATED means the deployer wants
 * an update first), the device checks and stores it. */
bool ddi_ticket(agent_t *a)
{
    uint8_t nonce[MOLT_AWDT_NONCE_LEN], t[MOLT_AWDT_TICKET_LEN];
    char hex[2 * sizeof nonce + 1];
    size_t tl = 0;
    molt_err_t e = a->dev.awdt_nonce(a->dev.ctx, nonce);
    if (e != MOLT_OK) {
        say(a, "ticket: the device issues no nonce: %s", molt_err_str(e));
        ev(a, "error", "{s:s,s:s}", "code", "nonce", "detail", molt_err_name(e));
        return false;
    }
    host_hex(nonce, sizeof nonce, hex);
    ev(a, "ticket_asked", "{s:s}", "nonce", hex);
    if (!ticket_request(a, hex, t, sizeof t, &tl))
        return false;
    agent_awdt_t st;
    if ((e = a->dev.awdt_ticket(a->dev.ctx, t, tl, &st)) != MOLT_OK) {
        say(a, "ticket: refused by the device: %s [%s]", molt_err_str(e), molt_err_name(e));
        ev(a, "ticket_refused", "{s:s,s:s}", "by", "device", "detail", molt_err_name(e));
        return false;
    }
    say(a, "ticket: accepted; deadline at device time %u (now %u), boot limit %u", (unsigned)st.deadline,
        (unsigned)st.clock, (unsigned)st.boot_limit);
    ev(a, "ticket_accepted", "{s:I,s:I,s:I}", "deadline", (json_int_t)st.deadline, "clock", (json_int_t)st.clock,
       "boot_limit", (json_int_t)st.boot_limit);
    return dev_save(a);
}
