/*
 * swu.c - SWUpdate packages (.swu) on upload: the cpio archive (newc, "070701",
 * or "070702" with its checksum), sw-description first and its detached CMS
 * signature sw-description.sig second (OpenSSL's CMS API, against the class's
 * registered signer certificates or public keys), sw-description parsed by a
 * small strict parser of the libconfig subset SWUpdate uses, and the SHA-256 of
 * every artifact it lists compared with the archive member of that name.
 * So moltd refuses what a device running SWUpdate with the same trust anchors
 * would refuse, before any device sees it (R-AUTH, R-DEPLOY-VERSION).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "moltd.h"

#define SWU_MAX_MEMBERS 4096
#define SWU_MAX_DESC (1u << 20)

static int refuse(pkg_info_t *info, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(pkg_info_t *info, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->why, sizeof info->why, fmt, ap);
    va_end(ap);
    info->why_name = name;
    return 1;
}

/* --- cpio (newc) ------------------------------------------------------------ */

typedef struct member {
    const char *name; /* inside the mapping, NUL-terminated there */
    const uint8_t *data;
    size_t size;
} member_t;

static bool hex8(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                        : c >= 'A' && c <= 'F'   ? c - 'A' + 10
                                                                                 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return true;
}

/* Parse the whole archive into m[] (up to cap members, the trailer excluded).
 * Returns the member count, or -1 with the reason in info. */
static long cpio_parse(const uint8_t *p, size_t len, member_t *m, size_t cap, pkg_info_t *info)
{
    size_t off = 0, n = 0;
    for (;;) {
        const uint8_t *h = p + off;
        bool crc = len - off >= 6 && memcmp(h, "070702", 6) == 0;
        if (len - off >= 6 && !crc && memcmp(h, "070701", 6) != 0) {
            refuse(info, "CPIO_MAGIC", "cpio: no newc header (070701/070702) at offset %zu", off);
            return -1;
        }
        if (len - off < 110) {
            refuse(info, "CPIO_TRUNCATED", "cpio: header at offset %zu is truncated (no TRAILER!!!)", off);
            return -1;
        }
        uint32_t f[13];
        for (int i = 0; i < 13; i++)
            if (!hex8(h + 6 + 8 * i, &f[i])) {
                refuse(info, "CPIO_MALFORMED", "cpio: a header field at offset %zu is not hex", off);
                return -1;
            }
        uint32_t fsize = f[6], nsize = f[11], check = f[12];
        size_t name_off = off + 110, data_off = (name_off + nsize + 3) & ~(size_t)3;
        if (nsize < 2 || nsize > 4096 || nsize > len - name_off || p[name_off + nsize - 1] != '\0' ||
            memchr(p + name_off, '\0', nsize - 1)) {
            refuse(info, "CPIO_MALFORMED", "cpio: bad name of the member at offset %zu", off);
            return -1;
        }
        const char *name = (const char *)p + name_off;
        if (data_off > len || fsize > len - data_off) {
            refuse(info, "CPIO_TRUNCATED", "cpio: member %s is truncated", name);
            return -1;
        }
        if (strcmp(name, "TRAILER!!!") == 0) {
            /* only zero padding may follow the trailer */
            for (size_t i = data_off + fsize; i < len; i++)
                if (p[i] != 0) {
                    refuse(info, "CPIO_MALFORMED", "cpio: data after TRAILER!!! at offset %zu", i);
                    return -1;
                }
            return (long)n;
        }
        if (!crc && check != 0) {
            refuse(info, "CPIO_MALFORMED", "cpio: member %s has a checksum in a 070701 header", name);
            return -1;
        }
        if (crc) {
            uint32_t sum = 0;
            for (size_t i = 0; i < fsize; i++)
                sum += p[data_off + i];
            if (sum != check) {
                refuse(info, "CPIO_CHECKSUM", "cpio: checksum of member %s is %08x, header says %08x", name, sum,
                       check);
                return -1;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(m[i].name, name) == 0) {
                refuse(info, "CPIO_DUPLICATE", "cpio: member %s appears twice", name);
                return -1;
            }
        if (n == cap) {
            refuse(info, "CPIO_MALFORMED", "cpio: more than %zu members", cap);
            return -1;
        }
        m[n++] = (member_t){name, p + data_off, fsize};
        off = (data_off + fsize + 3) & ~(size_t)3;
        if (off > len)
            off = len;
    }
}

/* --- sw-description: the libconfig subset ----------------------------------- */

typedef enum { V_GROUP, V_LIST, V_ARRAY, V_STRING, V_INT, V_FLOAT, V_BOOL } vtype_t;

typedef struct node {
    char *name;    /* NULL for list and array elements */
    vtype_t type;
    char *str;     /* string value (also the text of numbers and booleans) */
    struct node **kids;
    size_t nkids, cap;
    int line;
} node_t;

typedef struct parser {
    const char *s;
    size_t len, pos;
    int line, depth;
    size_t nodes;
    char err[160];
} parser_t;

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->name);
    free(n->str);
    free(n);
}

static bool perr(parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool perr(parser_t *ps, const char *fmt, ...)
{
    if (ps->err[0])
        return false;
    char m[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    snprintf(ps->err, sizeof ps->err, "sw-description line %d: %s", ps->line, m);
    return false;
}

static void skip_ws(parser_t *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->s[ps->pos];
        if (c == '\n') {
            ps->line++;
            ps->pos++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            ps->pos++;
        } else if (c == '#' || (c == '/' && ps->pos + 1 < ps->len && ps->s[ps->pos + 1] == '/')) {
            while (ps->pos < ps->len && ps->s[ps->pos] != '\n')
                ps->pos++;
        } else if (c == '/' && ps->pos + 1 < ps->len && ps->s[ps->pos + 1] == '*') {
            ps->pos += 2;
            while (ps->pos + 1 < ps->len && !(ps->s[ps->pos] == '*' && ps->s[ps->pos + 1] == '/')) {
                if (ps->s[ps->pos] == '\n')
                    ps->line++;
                ps->pos++;
            }
            if (ps->pos + 1 >= ps->len) {
                ps->pos = ps->len;
                perr(ps, "unterminated comment");
                return;
            }
            ps->pos += 2;
        } else {
            return;
        }
    }
}

static int peek(parser_t *ps)
{
    skip_ws(ps);
    return ps->pos < ps->len ? (unsigned char)ps->s[ps->pos] : -1;
}

static node_t *node_new(parser_t *ps, vtype_t t)
{
    if (++ps->nodes > 100000) {
        perr(ps, "more than 100000 settings");
        return NULL;
    }
    node_t *n = calloc(1, sizeof *n);
    if (n) {
        n->type = t;
        n->line = ps->line;
    }
    return n;
}

static bool add_kid(node_t *p, node_t *k)
{
    if (p->nkids == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        node_t **nk = realloc(p->kids, cap * sizeof *nk);
        if (!nk)
            return false;
        p->kids = nk;
        p->cap = cap;
    }
    p->kids[p->nkids++] = k;
    return true;
}

/* One or more adjacent "..." literals (libconfig concatenates them). */
static char *parse_string(parser_t *ps)
{
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (peek(ps) == '"') {
        ps->pos++;
        for (;;) {
            if (ps->pos >= ps->len) {
                free(out);
                perr(ps, "unterminated string");
                return NULL;
            }
            char c = ps->s[ps->pos++];
            if (c == '"')
                break;
            if (c == '\n') {
                free(out);
                perr(ps, "newline inside a string");
                return NULL;
            }
            if (c == '\\') {
                if (ps->pos >= ps->len) {
                    free(out);
                    perr(ps, "unterminated string");
                    return NULL;
                }
                char e = ps->s[ps->pos++];
                c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'f' ? '\f' : e == '\\' ? '\\'
                    : e == '"'                                                             ? '"'
                                                                                           : 0;
                if (e == 'x' && ps->pos + 1 < ps->len && isxdigit((unsigned char)ps->s[ps->pos]) &&
                    isxdigit((unsigned char)ps->s[ps->pos + 1])) {
                    char hx[3] = {ps->s[ps->pos], ps->s[ps->pos + 1], 0};
                    c = (char)strtol(hx, NULL, 16);
                    ps->pos += 2;
                }
                if (!c) {
                    free(out);
                    perr(ps, "bad escape \\%c in a string", e);
                    return NULL;
                }
            }
            if (n + 2 > cap) {
                char *o = realloc(out, cap *= 2);
                if (!o) {
                    free(out);
                    return NULL;
                }
                out = o;
            }
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return out;
}

static node_t *parse_value(parser_t *ps);

/* settings until `end` ('}' or EOF = -1) into group g */
static bool parse_settings(parser_t *ps, node_t *g, int end)
{
    for (;;) {
        int c = peek(ps);
        if (ps->err[0])
            return false;
        if (c == end) {
            if (end != -1)
                ps->pos++;
            return true;
        }
        if (c == -1)
            return perr(ps, "missing '}'");
        if (c == '@')
            return perr(ps, "@include is not accepted");
        if (!(isalpha(c) || c == '*'))
            return perr(ps, "a setting name is expected, not '%c'", c);
        size_t st = ps->pos;
        while (ps->pos < ps->len &&
               (isalnum((unsigned char)ps->s[ps->pos]) || strchr("-_*", ps->s[ps->pos])))
            ps->pos++;
        size_t nl = ps->pos - st;
        if (nl > 128)
            return perr(ps, "setting name longer than 128 characters");
        for (size_t i = 0; i < g->nkids; i++)
            if (strlen(g->kids[i]->name) == nl && memcmp(g->kids[i]->name, ps->s + st, nl) == 0)
                return perr(ps, "setting %.*s appears twice", (int)nl, ps->s + st);
        c = peek(ps);
        if (c != '=' && c != ':')
            return perr(ps, "'=' or ':' expected after %.*s", (int)nl, ps->s + st);
        ps->pos++;
        node_t *v = parse_value(ps);
        if (!v)
            return false;
        v->name = strndup(ps->s + st, nl);
        if (!v->name || !add_kid(g, v)) {
            node_free(v);
            return perr(ps, "out of memory");
        }
        c = peek(ps);
        if (c == ';' || c == ',')
            ps->pos++;
    }
}

/* The members of a list "( ... )" or an array "[ ... ]" (scalars only), after
 * its opening character, through its closing one. */
static bool parse_items(parser_t *ps, node_t *n, int open)
{
    int close = open == '(' ? ')' : ']';
    if (peek(ps) == close) {
        ps->pos++;
        return true;
    }
    for (;;) {
        node_t *k = parse_value(ps);
        if (!k)
            return false;
        if (open == '[' && (k->type == V_GROUP || k->type == V_LIST || k->type == V_ARRAY)) {
            node_free(k);
            return perr(ps, "an array holds scalars only");
        }
        if (!add_kid(n, k)) {
            node_free(k);
            return perr(ps, "out of memory");
        }
        int d = peek(ps);
        if (d == ',') {
            ps->pos++;
            continue;
        }
        if (d == close) {
            ps->pos++;
            return true;
        }
        return perr(ps, "',' or '%c' expected", close);
    }
}

/* A group, list or array, at its opening character. */
static node_t *parse_aggregate(parser_t *ps, int c)
{
    if (++ps->depth > 32) {
        perr(ps, "nested deeper than 32");
        return NULL;
    }
    ps->pos++;
    node_t *n = node_new(ps, c == '{' ? V_GROUP : c == '(' ? V_LIST : V_ARRAY);
    if (!n)
        return NULL;
    bool ok = c == '{' ? parse_settings(ps, n, '}') : parse_items(ps, n, c);
    ps->depth--;
    if (!ok) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* The type of a scalar token: boolean, integer (an L or LL suffix is dropped
 * from tok), float; false if it is none. */
static bool scalar_type(char *tok, size_t n, vtype_t *t)
{
    char *end;
    if (strcasecmp(tok, "true") == 0 || strcasecmp(tok, "false") == 0)
        return *t = V_BOOL, true;
    size_t tl = n;
    if (tl >= 2 && (tok[tl - 1] == 'L' || tok[tl - 1] == 'l'))
        tok[--tl] = '\0';
    if (tl >= 1 && (tok[tl - 1] == 'L' || tok[tl - 1] == 'l'))
        tok[--tl] = '\0';
    (void)strtoll(tok, &end, 0);
    if (*end == '\0' && tl)
        return *t = V_INT, true;
    (void)strtod(tok, &end);
    return *t = V_FLOAT, *end == '\0';
}

/* A number or a boolean. */
static node_t *parse_scalar(parser_t *ps)
{
    size_t st = ps->pos;
    while (ps->pos < ps->len && (isalnum((unsigned char)ps->s[ps->pos]) || strchr("+-._", ps->s[ps->pos])))
        ps->pos++;
    size_t n = ps->pos - st;
    if (n == 0 || n > 64) {
        perr(ps, n ? "value too long" : "a value is expected");
        return NULL;
    }
    char tok[65];
    memcpy(tok, ps->s + st, n);
    tok[n] = '\0';
    vtype_t t;
    if (!scalar_type(tok, n, &t)) {
        perr(ps, "'%s' is not a value", tok);
        return NULL;
    }
    node_t *v = node_new(ps, t);
    if (!v || !(v->str = strdup(tok))) {
        node_free(v);
        perr(ps, "out of memory");
        return NULL;
    }
    return v;
}

static node_t *parse_value(parser_t *ps)
{
    int c = peek(ps);
    if (ps->err[0])
        return NULL;
    if (c == '{' || c == '(' || c == '[')
        return parse_aggregate(ps, c);
    if (c == '"') {
        node_t *n = node_new(ps, V_STRING);
        if (!n)
            return NULL;
        n->str = parse_string(ps);
        if (!n->str) {
            node_free(n);
            perr(ps, "out of memory");
            return NULL;
        }
        return n;
    }
    return parse_scalar(ps);
}

static node_t *kid(const node_t *g, const char *name)
{
    for (size_t i = 0; g && g->type == V_GROUP && i < g->nkids; i++)
        if (strcmp(g->kids[i]->name, name) == 0)
            return g->kids[i];
    return NULL;
}

/* --- versions ----------------------------------------------------------------- */

/* SWUpdate compares versions as up to four dotted numbers of 16 bits each
 * ("major.minor.revision.build"); moltd accepts exactly that form. */
static bool swu_version(const char *v, char *key, size_t cap)
{
    unsigned long part[4] = {0};
    int n = 0;
    const char *p = v;
    for (;;) {
        if (!isdigit((unsigned char)*p) || n == 4)
            return false;
        char *end;
        part[n] = strtoul(p, &end, 10);
        if (end - p > 5 || part[n] > 65535)
            return false;
        n++;
        p = end;
        if (*p == '\0')
            break;
        if (*p++ != '.')
            return false;
    }
    snprintf(key, cap, "%05lu.%05lu.%05lu.%05lu", part[0], part[1], part[2], part[3]);
    return true;
}

/* --- artifacts listed in sw-description ---------------------------------------- */

typedef struct walk {
    const member_t *m;
    size_t nm;
    pkg_info_t *info;
    int refused;
    unsigned artifacts;
    bool verify; /* false: test-only mode, artifacts are counted, not checked */
} walk_t;

/* Every group holding a `filename` (images, files, scripts, in any collection
 * or board section) is an artifact: it must name a member of the archive and
 * carry the member's sha256, as SWUpdate with signed images requires. */
static void walk_artifacts(const node_t *n, walk_t *w)
{
    if (w->refused || !n)
        return;
    if (n->type == V_GROUP) {
        const node_t *fn = kid(n, "filename");
        if (fn && !w->verify) {
            w->artifacts++;
        } else if (fn) {
            const node_t *sh = kid(n, "sha256");
            if (fn->type != V_STRING || !fn->str[0]) {
                w->refused = refuse(w->info, "SWU_DESCRIPTION", "sw-description line %d: filename is not a string",
                                    fn->line);
                return;
            }
            if (!sh || sh->type != V_STRING || strlen(sh->str) != 64 ||
                strspn(sh->str, "0123456789abcdefABCDEF") != 64) {
                w->refused = refuse(w->info, "SWU_NO_HASH",
                                    "sw-description line %d: %s has no sha256 (64 hex digits)", fn->line, fn->str);
                return;
            }
            const member_t *mm = NULL;
            for (size_t i = 0; i < w->nm && !mm; i++)
                if (strcmp(w->m[i].name, fn->str) == 0)
                    mm = &w->m[i];
            if (!mm) {
                w->refused = refuse(w->info, "SWU_MISSING_IMAGE", "%s is listed in sw-description, not in the archive",
                                    fn->str);
                return;
            }
            uint8_t md[32];
            char hex[65], want[65];
            unsigned int mdl = 0;
            EVP_Digest(mm->data, mm->size, md, &mdl, EVP_sha256(), NULL);
            host_hex(md, 32, hex);
            for (int i = 0; i < 65; i++)
                want[i] = (char)tolower((unsigned char)sh->str[i]);
            if (strcmp(hex, want) != 0) {
                w->refused = refuse(w->info, "HASH_MISMATCH", "%s: sha256 is %s, sw-description says %s", fn->str, hex,
                                    want);
                return;
            }
            w->artifacts++;
        }
    }
    for (size_t i = 0; i < n->nkids; i++)
        walk_artifacts(n->kids[i], w);
}

/* --- the CMS signature ------------------------------------------------------------- */

/* A registered signer: a certificate (a trust anchor: the signer's own or an
 * issuer of it) or a bare public key (the signer certificate in the CMS
 * structure must carry exactly that key). */
typedef struct signer {
    X509 *cert;
    EVP_PKEY *key;
} signer_t;

static void signers_free(signer_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        X509_free(s[i].cert);
        EVP_PKEY_free(s[i].key);
    }
}

/* 0: verified by signer *idx; 1 refused (why set). */
static int cms_check(const uint8_t *sig, size_t sig_len, const uint8_t *data, size_t data_len, const signer_t *sg,
                     size_t ns, int *idx, pkg_info_t *info)
{
    const unsigned char *p = sig;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig_len);
    if (!cms || p != sig + sig_len) {
        CMS_ContentInfo_free(cms);
        ERR_clear_error();
        return refuse(info, "SIG_MALFORMED", "sw-description.sig is not a DER CMS signature");
    }
    int ret = 1;
    STACK_OF(X509) *extra = sk_X509_new_null();
    for (size_t i = 0; i < ns; i++)
        if (sg[i].cert)
            sk_X509_push(extra, sg[i].cert);
    /* First: is it a valid signature over these bytes at all (by whatever certificate)? */
    BIO *in = BIO_new_mem_buf(data, (int)data_len);
    if (CMS_verify(cms, extra, NULL, in, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
        unsigned long e = ERR_peek_last_error();
        char es[120];
        ERR_error_string_n(e, es, sizeof es);
        refuse(info, "SIGNATURE_INVALID", "the CMS signature of sw-description does not verify (%s)",
               e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : es : "no signer");
        goto out;
    }
    BIO_free(in);
    in = NULL;
    STACK_OF(X509) *who = CMS_get0_signers(cms);
    X509 *leaf = who && sk_X509_num(who) > 0 ? sk_X509_value(who, 0) : NULL;
    /* Then: which registered signer vouches for it. Each certificate alone as
     * the trust anchor (a partial chain: the signer's own certificate may be
     * registered), with the CMS's own certificates as intermediates. */
    for (size_t i = 0; i < ns && ret; i++) {
        if (sg[i].key) {
            if (leaf && EVP_PKEY_eq(X509_get0_pubkey(leaf), sg[i].key) == 1) {
                *idx = (int)i;
                ret = 0;
            }
            continue;
        }
        X509_STORE *st = X509_STORE_new();
        X509_STORE_add_cert(st, sg[i].cert);
        X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
        X509_STORE_set_purpose(st, X509_PURPOSE_ANY);
        BIO *b = BIO_new_mem_buf(data, (int)data_len);
        if (CMS_verify(cms, extra, st, b, NULL, CMS_BINARY) == 1) {
            *idx = (int)i;
            ret = 0;
        }
        BIO_free(b);
        X509_STORE_free(st);
    }
    sk_X509_free(who);
    if (ret) {
        char subj[120] = "?";
        if (leaf)
            X509_NAME_oneline(X509_get_subject_name(leaf), subj, sizeof subj);
        refuse(info, "KEY_UNTRUSTED", "sw-description is signed by %s, which no signer of this class vouches for",
               subj);
    }
out:
    BIO_free(in);
    sk_X509_free(extra);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return ret;
}

static bool signer_load(const char *pem, signer_t *s)
{
    memset(s, 0, sizeof *s);
    BIO *b = BIO_new_mem_buf(pem, -1);
    s->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!s->cert)
        s->key = pkg_pem_key(pem);
    ERR_clear_error();
    return s->cert || s->key;
}

/* The archive's first two members are sw-description and its signature; the
 * signature verifies with one of the signers (unless !verify, test mode only).
 * 0, or 1 refused (why, why_name). */
static int check_members(const member_t *m, long nm, const char *const *pems, size_t npems, bool verify,
                         pkg_info_t *info)
{
    if (nm == 0 || strcmp(m[0].name, "sw-description") != 0)
        return refuse(info, "SWU_NO_DESCRIPTION", "the first member of the archive is %s, not sw-description",
                      nm ? m[0].name : "missing");
    if (nm < 2 || strcmp(m[1].name, "sw-description.sig") != 0)
        return refuse(info, "SWU_UNSIGNED", "the second member of the archive is %s, not sw-description.sig",
                      nm >= 2 ? m[1].name : "missing");
    if (m[0].size > SWU_MAX_DESC)
        return refuse(info, "SWU_DESCRIPTION", "sw-description is larger than %u bytes", SWU_MAX_DESC);
    if (verify) {
        signer_t sg[16];
        size_t ns = 0;
        for (size_t i = 0; i < npems && ns < 16; i++)
            if (signer_load(pems[i], &sg[ns]))
                ns++;
        int idx = -1;
        int c = cms_check(m[1].data, m[1].size, m[0].data, m[0].size, sg, ns, &idx, info);
        signers_free(sg, ns);
        if (c != 0)
            return 1;
        info->signer = idx;
    }
    if (memchr(m[0].data, '\0', m[0].size))
        return refuse(info, "SWU_DESCRIPTION", "sw-description holds a NUL byte");
    return 0;
}

/* software = { version = "..."; hardware-compatibility = [...]; ... }: the
 * version (SWUpdate's form) and every listed artifact, present and hashed. */
static int check_software(const node_t *root, const member_t *m, long nm, bool verify, pkg_info_t *info)
{
    const node_t *sw = kid(root, "software"), *ver = kid(sw, "version"), *hw = kid(sw, "hardware-compatibility");
    if (!sw || sw->type != V_GROUP)
        return refuse(info, "SWU_DESCRIPTION", "sw-description: no group software = { ... }");
    if (!ver || ver->type != V_STRING)
        return refuse(info, "SWU_VERSION", "sw-description: software.version (a string) is missing");
    if (strlen(ver->str) >= sizeof info->version ||
        !swu_version(ver->str, info->version_key, sizeof info->version_key))
        return refuse(info, "SWU_VERSION",
                      "sw-description: software.version \"%.40s\" is not 1 to 4 dotted numbers below 65536", ver->str);
    if (hw) {
        bool ok = hw->type == V_ARRAY && hw->nkids > 0;
        for (size_t i = 0; ok && i < hw->nkids; i++)
            ok = hw->kids[i]->type == V_STRING;
        if (!ok)
            return refuse(info, "SWU_DESCRIPTION",
                          "sw-description line %d: hardware-compatibility is not an array of strings", hw->line);
    }
    snprintf(info->version, sizeof info->version, "%s", ver->str);
    walk_t w = {m, (size_t)nm, info, 0, 0, verify};
    walk_artifacts(sw, &w);
    if (w.refused)
        return 1;
    if (w.artifacts == 0)
        return refuse(info, "SWU_DESCRIPTION", "sw-description lists no image or file");
    return 0;
}

int swu_check(const char *path, const char *const *pems, size_t npems, bool verify, pkg_info_t *info)
{
    void *map = NULL;
    int mapped = pkg_map(path, UINT64_MAX, info, &map);
    if (mapped != 0)
        return mapped;
    size_t len = (size_t)info->size;
    int ret = 1;
    node_t *root = NULL;
    member_t *m = calloc(SWU_MAX_MEMBERS, sizeof *m);
    long nm = m ? cpio_parse(map, len, m, SWU_MAX_MEMBERS, info) : -1;
    if (!m) {
        snprintf(info->why, sizeof info->why, "out of memory");
        ret = -1;
    } else if (nm >= 0 && check_members(m, nm, pems, npems, verify, info) == 0) {
        parser_t ps = {.s = (const char *)m[0].data, .len = m[0].size, .line = 1};
        root = node_new(&ps, V_GROUP);
        if (!root || !parse_settings(&ps, root, -1))
            refuse(info, "SWU_DESCRIPTION", "%s", ps.err[0] ? ps.err : "out of memory");
        else
            ret = check_software(root, m, nm, verify, info);
    }
    node_free(root);
    free(m);
    munmap(map, len);
    return ret;
}
