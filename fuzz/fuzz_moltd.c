/*
 * fuzz_moltd.c - moltd's request handlers in-process (R-CHANNEL, R-AUTH on
 * the deployer, R-FLAW): the real http.c callback (authentication from the
 * headers, body limits, routing) and every handler behind it, on SQLite,
 * with libmicrohttpd replaced by mhd_shim.c.
 *
 * Once per process a deployer is set up through the API itself: a signer
 * (sign-ecdsa-p256), a class, an operator token, the package p02 uploaded
 * and verified, device dev1 (attestation and encryption keys), a campaign
 * for it, a ticket key and the class's ticket policy. Its database is the template; every input starts from a fresh copy
 * of it, so inputs are independent and reproducible.
 *
 * Input: requests separated by a line "---". Each is "METHOD PATH[?QUERY]",
 * header lines "Name: value", an empty line, then the body. In the path and
 * headers $U is /api/v1, $D /DEFAULT/controller/v1/dev1, $A the admin token,
 * $O the operator's, $T dev1's target token. The corpus covers feedback,
 * configData, campaigns, package upload, attestation upload and Range.
 *
 * Oracles: exactly one response per request; its status is one moltd
 * documents (never 500 on SQLite: a refusal is a 4xx); every JSON response
 * parses, and an error's body is {"error": one line}; a file response lies
 * inside its file and a 206 carries the Content-Range of exactly that slice;
 * a refused request (4xx) adds nothing to the audit log but, for a refused
 * deferral ticket, its one ticket.refused record (moltd/ticket.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "molt_host/util.h"
#include "mhd_shim.h"
#include "moltd.h"
#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADMIN "fuzz-admin-token-0123456789"

static moltd_t srv;
static char dir[256], art[300], tmpl[300], work[300], ops_tok[64], dev_tok[64];
static bool ready;

static char *slurp_text(const char *path)
{
    size_t n = 0;
    uint8_t *p = fuzz_slurp(path, &n);
    char *s = p ? realloc(p, n + 1) : NULL;
    if (!s)
        abort();
    s[n] = '\0';
    return s;
}

static bool copy_file(const char *from, const char *to)
{
    size_t n = 0;
    uint8_t *p = fuzz_slurp(from, &n);
    FILE *f = p ? fopen(to, "wb") : NULL;
    bool ok = f && fwrite(p, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(p);
    return ok;
}

static void open_db(const char *path)
{
    char url[400], why[256];
    snprintf(url, sizeof url, "sqlite:%s", path);
    srv.db = db_open(url, why, sizeof why);
    if (!srv.db) {
        fprintf(stderr, "fuzz_moltd: %s\n", why);
        abort();
    }
    srv_db_bind_main(&srv); /* one thread here: requests use the main connection */
}

static void close_db(void)
{
    srv.db->drv->close(srv.db);
    srv.db = NULL;
}

/* One setup request; returns the response body's field key (or NULL). */
static void setup_call(const char *method, const char *path, const char *query, const char *auth, const char *body,
                       size_t len, unsigned want, const char *key, char *out, size_t cap)
{
    shim_req_t q = {.method = method, .path = path, .query = query, .body = body, .body_len = len};
    char authz[128];
    snprintf(authz, sizeof authz, "Bearer %s", auth);
    q.hname[0] = "Authorization";
    q.hvalue[0] = authz;
    q.hname[1] = "Content-Type";
    q.hvalue[1] = strcmp(path, "/api/v1/packages") == 0 ? "application/octet-stream" : "application/json";
    q.nheaders = 2;
    shim_resp_t r;
    shim_request(&q, &r);
    if (r.status != want) {
        fprintf(stderr, "fuzz_moltd setup: %s %s: %u %s\n", method, path, r.status, r.body ? r.body : "");
        abort();
    }
    if (key) {
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(out, cap, "%s", json_string_value(json_object_get(j, key)) ? json_string_value(json_object_get(j, key)) : "");
        json_decref(j);
    }
    free(r.body);
}

/* Leave nothing behind: the artifacts, the databases, the directories. */
static void cleanup(void)
{
    DIR *d = opendir(art);
    struct dirent *e;
    char pth[700];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(pth, sizeof pth, "%s/%s", art, e->d_name);
        unlink(pth);
    }
    if (d)
        closedir(d);
    rmdir(art);
    static const char *const files[] = {"template.db", "template.db-wal", "template.db-shm", "work.db", "work.db-wal",
                                        "work.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(pth, sizeof pth, "%s/%s", dir, files[i]);
        unlink(pth);
    }
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/molt-fuzz-moltd-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(art, sizeof art, "%s/artifacts", dir);
    snprintf(tmpl, sizeof tmpl, "%s/template.db", dir);
    snprintf(work, sizeof work, "%s/work.db", dir);
    if (mkdir(art, 0750) != 0)
        abort();
    atexit(cleanup);
    srv.artifact_dir = art;
    srv.tenant = "DEFAULT";
    sha256_hex(ADMIN, strlen(ADMIN), srv.admin_hash);
    srv.poll_sleep = 30;
    srv.max_json = 65536;
    srv.max_package = 1u << 20;
    srv.max_feedback = 1u << 20; /* DDI feedback (issue 19) */
    srv.attest_ttl = 300;
    pthread_mutex_init(&srv.lock, NULL);
    pthread_mutex_init(&srv.pool_lock, NULL);
    host_set_context("moltd", NULL);
    open_db(tmpl);
    if (db_migrate(srv.db) < 0)
        abort();
    if (!http_start(&srv, "127.0.0.1", 0, 1))
        abort();
    char why[512];
    if (!ticket_key_load(&srv, MOLT_VECTORS "/keys/untrusted-ecdsa-p256.pem", why, sizeof why)) {
        fprintf(stderr, "fuzz_moltd setup: %s\n", why);
        abort();
    }

    char *spem = slurp_text(MOLT_VECTORS "/keys/sign-ecdsa-p256.pub.pem");
    char *apem = slurp_text(MOLT_VECTORS "/keys/enc-ecdsa-p256.pub.pem");
    char *epem = slurp_text(MOLT_VECTORS "/keys/enc-x25519.pub.pem");
    json_t *j = json_pack("{s:s,s:s}", "name", "vendor", "pem", spem);
    char *b = json_dumps(j, 0);
    setup_call("POST", "/api/v1/signers", NULL, ADMIN, b, strlen(b), 201, NULL, NULL, 0);
    free(b);
    json_decref(j);
    b = strdup("{\"name\":\"sensor\",\"signers\":[\"vendor\"]}");
    setup_call("POST", "/api/v1/classes", NULL, ADMIN, b, strlen(b), 201, NULL, NULL, 0);
    free(b);
    b = strdup("{\"name\":\"ops\",\"role\":\"operator\"}");
    setup_call("POST", "/api/v1/tokens", NULL, ADMIN, b, strlen(b), 201, "token", ops_tok, sizeof ops_tok);
    free(b);
    size_t n = 0;
    uint8_t *img = fuzz_slurp(MOLT_VECTORS "/images/p02_ecdsa_p256.bin", &n);
    setup_call("POST", "/api/v1/packages", "class=sensor", ops_tok, (const char *)img, n, 201, NULL, NULL, 0);
    free(img);
    j = json_pack("{s:s,s:s,s:s,s:s}", "id", "dev1", "class", "sensor", "attestation_key", apem, "encryption_key", epem);
    b = json_dumps(j, 0);
    setup_call("POST", "/api/v1/devices", NULL, ops_tok, b, strlen(b), 201, "token", dev_tok, sizeof dev_tok);
    free(b);
    json_decref(j);
    b = strdup("{\"name\":\"rollout\",\"package\":1,\"message\":\"m\",\"filter\":{\"ids\":[\"dev1\"]},\"steps\":[100],"
               "\"failure_threshold\":20}");
    setup_call("POST", "/api/v1/campaigns", NULL, ops_tok, b, strlen(b), 201, NULL, NULL, 0);
    free(b);
    b = strdup("{\"seconds\":60,\"boots\":3,\"grace\":0}");
    setup_call("PUT", "/api/v1/classes/sensor/ticketpolicy", NULL, ADMIN, b, strlen(b), 200, NULL, NULL, 0);
    free(b);
    free(spem);
    free(apem);
    free(epem);
    close_db();
    ready = true;
}

/* Expand $U $D $A $O $T into out. */
static void expand(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        const char *sub = NULL;
        if (in[i] == '$' && i + 1 < len) {
            char c = in[i + 1];
            sub = c == 'U' ? "/api/v1" : c == 'D' ? "/DEFAULT/controller/v1/dev1" : c == 'A' ? ADMIN : c == 'O' ? ops_tok
                  : c == 'T' ? dev_tok : NULL;
        }
        if (sub) {
            size_t sl = strlen(sub);
            if (o + sl >= cap)
                break;
            memcpy(out + o, sub, sl);
            o += sl;
            i++;
        } else {
            out[o++] = in[i] ? in[i] : ' ';
        }
    }
    out[o] = '\0';
}

static long audit_count(void)
{
    db_rows_t rows;
    long n = -1;
    srv_lock(&srv);
    if (Q0(&srv, &rows, "SELECT COUNT(*) FROM audit WHERE what <> 'ticket.refused'") == DB_OK) {
        n = rows.nrows ? strtol(db_cell(&rows, 0, 0), NULL, 10) : -1;
        db_rows_free(&rows);
    }
    srv_unlock(&srv);
    return n;
}

static bool status_known(unsigned s)
{
    static const unsigned ok[] = {200, 201, 204, 206, 302, 304, 400, 401, 403, 404, 405, 409, 410, 413, 415, 416, 422, 501};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s == ok[i])
            return true;
    return false;
}

static void one(const char *req, size_t len)
{
    const char *nl = memchr(req, '\n', len);
    size_t l1 = nl ? (size_t)(nl - req) : len;
    char line[1024], method[16], path[1024];
    expand(req, l1 < sizeof line ? l1 : sizeof line - 1, line, sizeof line);
    if (sscanf(line, "%15s %1000s", method, path) != 2)
        return;
    char *qm = strchr(path, '?');
    shim_req_t q = {.method = method, .path = path};
    if (qm) {
        *qm = '\0';
        q.query = qm + 1;
    }
    static char hbuf[SHIM_MAX_HEADERS][512], hn[SHIM_MAX_HEADERS][64];
    const char *p = nl ? nl + 1 : req + len, *end = req + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t ll = e ? (size_t)(e - p) : (size_t)(end - p);
        if (ll == 0) {
            p++;
            break;
        }
        const char *colon = memchr(p, ':', ll);
        if (colon && q.nheaders < SHIM_MAX_HEADERS && (size_t)(colon - p) < 63) {
            memcpy(hn[q.nheaders], p, (size_t)(colon - p));
            hn[q.nheaders][colon - p] = '\0';
            const char *v = colon + 1;
            while (v < p + ll && *v == ' ')
                v++;
            expand(v, (size_t)(p + ll - v), hbuf[q.nheaders], sizeof hbuf[0]);
            q.hname[q.nheaders] = hn[q.nheaders];
            q.hvalue[q.nheaders] = hbuf[q.nheaders];
            q.nheaders++;
        }
        p += ll + (e ? 1 : 0);
    }
    q.body = p < end ? p : "";
    q.body_len = p < end ? (size_t)(end - p) : 0;

    long before = audit_count();
    shim_resp_t r;
    shim_request(&q, &r);
    long after = audit_count();
    if (getenv("FUZZ_MOLTD_TRACE"))
        fprintf(stderr, "%s %s -> %u %.100s\n", method, path, r.status, r.body ? r.body : r.from_fd ? "(file)" : "");
    if (r.queued != 1) {
        fprintf(stderr, "fuzz_moltd: %s %s: %u responses\n", method, path, r.queued);
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
    }
    /* Open finding 4 (docs/fuzzing.md): an error message that echoes request
     * bytes which are not UTF-8 makes json_pack fail, and moltd answers 500
     * "out of memory". FUZZ_MOLTD_ALLOW_OPEN=1 (scripts/fuzz.sh run) lets a
     * campaign go past it; the replay in make test does not set it. */
    if (r.status == 500 && getenv("FUZZ_MOLTD_ALLOW_OPEN") && r.body && strstr(r.body, "out of memory"))
        r.status = 400;
    if (!status_known(r.status)) {
        fprintf(stderr, "fuzz_moltd: %s %s: status %u: %s\n", method, path, r.status, r.body ? r.body : "");
        FUZZ_FAIL("%s:%d", __FILE__, __LINE__);
    }
    if (r.from_fd) {
        if (r.off + r.len > r.file_size)
            FUZZ_FAIL("a slice outside the file");
        if (r.status == 206) {
            char want[128];
            snprintf(want, sizeof want, "bytes %llu-%llu/%llu", (unsigned long long)r.off,
                     (unsigned long long)(r.off + r.len - 1), (unsigned long long)r.file_size);
            if (r.len == 0 || strcmp(r.range, want) != 0)
                FUZZ_FAIL("Content-Range is not the slice served");
        } else if (r.status == 200 && (r.off != 0 || r.len != r.file_size)) {
            FUZZ_FAIL("200 is the whole file");
        }
    } else if (strncmp(r.type, "application/json", 16) == 0) {
        json_error_t e;
        json_t *j = json_loads(r.body ? r.body : "", JSON_DECODE_ANY, &e);
        if (!j)
            FUZZ_FAIL("a JSON response that does not parse");
        if (r.status >= 400) {
            const char *m = json_string_value(json_object_get(j, "error"));
            if (!m || !m[0] || strchr(m, '\n'))
                FUZZ_FAIL("an error without its one-line reason");
        }
        json_decref(j);
    }
    if (r.status >= 400 && r.status < 500 && after != before) {
        fprintf(stderr, "fuzz_moltd: %s %s: refused %u but audited\n", method, path, r.status);
        FUZZ_FAIL("a refusal changed stored state");
    }
    free(r.body);
}

/* Remove artifacts an input added (the template's stay). */
static void clean_artifacts(void)
{
    DIR *d = opendir(art);
    if (!d)
        return;
    static char keep[8][256];
    static int nkeep = -1;
    struct dirent *e;
    if (nkeep < 0) {
        nkeep = 0;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.' && nkeep < 8)
                snprintf(keep[nkeep++], sizeof keep[0], "%s", e->d_name);
        closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        bool k = e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]));
        for (int i = 0; i < nkeep && !k; i++)
            k = strcmp(keep[i], e->d_name) == 0;
        if (!k) {
            char pth[600];
            snprintf(pth, sizeof pth, "%s/%s", art, e->d_name);
            unlink(pth);
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        setup();
        clean_artifacts();
    }
    if (size > 65536)
        return 0;
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", work);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", work);
    unlink(wal);
    if (!copy_file(tmpl, work))
        abort();
    open_db(work);
    const char *s = (const char *)data, *end = s + size;
    for (int k = 0; s < end && k < 16; k++) {
        const char *sep = NULL;
        for (const char *p = s; p + 5 <= end; p++)
            if (memcmp(p, "\n---\n", 5) == 0) {
                sep = p;
                break;
            }
        size_t n = sep ? (size_t)(sep - s) : (size_t)(end - s);
        one(s, n);
        s += n + (sep ? 5 : 0);
    }
    close_db();
    clean_artifacts();
    return 0;
}
