/*
 * util.c - the host library's base layer (molt_host/util.h): error lines, files,
 * numbers, hex, keys, the growable buffer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "molt/image.h"
#include "molt_host/util.h"

static const char *ctx_prog = "molt";
static const char *ctx_cmd = "";

void host_set_context(const char *prog, const char *cmd)
{
    if (prog)
        ctx_prog = prog;
    if (cmd)
        ctx_cmd = cmd;
}

int host_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", ctx_prog, ctx_cmd[0] ? " " : "", ctx_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

bool host_read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        host_error("%s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    while (p) {
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                host_error("%s: read error: %s", path, strerror(errno));
                free(p);
                p = NULL;
            }
            break;
        }
        if (cap >= (size_t)1 << 30) {
            host_error("%s: file larger than 1 GiB", path);
            free(p);
            p = NULL;
            break;
        }
        uint8_t *q = realloc(p, cap * 2);
        if (!q) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    if (f != stdin)
        fclose(f);
    if (!p)
        return false;
    *buf = p;
    *len = n;
    return true;
}

bool host_write_file(const char *path, const uint8_t *buf, size_t len)
{
    if (!strcmp(path, "-")) {
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout)) {
            host_error("stdout: write error: %s", strerror(errno));
            return false;
        }
        return true;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return false;
    snprintf(tmp, plen + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        host_error("%s: %s", path, strerror(errno));
        free(tmp);
        return false;
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        host_error("%s: write error: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    return true;
}

bool host_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

EVP_PKEY *host_load_key(const char *path, bool *is_private)
{
    uint8_t *data;
    size_t len;
    if (!host_read_file(path, &data, &len))
        return NULL;
    EVP_PKEY *key = NULL;
    bool priv = false;
    const char *types[] = {"PEM", "DER"};
    for (int t = 0; t < 2 && !key; t++) {
        for (int sel = 0; sel < 2 && !key; sel++) {
            int selection = sel == 0 ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
            OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&key, types[t], NULL, NULL,
                                                                   selection, NULL, NULL);
            if (!dctx)
                continue;
            const unsigned char *p = data;
            size_t left = len;
            if (!OSSL_DECODER_from_data(dctx, &p, &left))
                key = NULL;
            else
                priv = sel == 0;
            OSSL_DECODER_CTX_free(dctx);
        }
    }
    ERR_clear_error();
    free(data);
    if (!key) {
        host_error("%s: not a PEM or DER key", path);
        return NULL;
    }
    if (is_private)
        *is_private = priv;
    return key;
}

bool host_pubkey_der(EVP_PKEY *key, uint8_t **der, size_t *len)
{
    unsigned char *out = NULL;
    int n;
    if (EVP_PKEY_is_a(key, "RSA")) {
        /* PKCS#1 RSAPublicKey, as imgtool and MCUboot use for RSA. */
        OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "DER",
                                                               "type-specific", NULL);
        size_t olen = 0;
        if (!ectx || !OSSL_ENCODER_to_data(ectx, &out, &olen)) {
            OSSL_ENCODER_CTX_free(ectx);
            return false;
        }
        OSSL_ENCODER_CTX_free(ectx);
        *der = out;
        *len = olen;
        return true;
    }
    n = i2d_PUBKEY(key, &out);
    if (n <= 0)
        return false;
    *der = out;
    *len = (size_t)n;
    return true;
}

void host_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool host_parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    *len = n / 2;
    return true;
}

const char *host_ossl_error(void)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason ? reason : "unknown OpenSSL error";
}

static bool sbuf_reserve(sbuf_t *b, size_t n)
{
    if (b->oom)
        return false;
    if (n <= b->cap - b->len)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sbuf_put(sbuf_t *b, const void *data, size_t n)
{
    if (n && sbuf_reserve(b, n)) {
        memcpy(b->p + b->len, data, n);
        b->len += n;
    }
}

void sbuf_fill(sbuf_t *b, uint8_t value, size_t n)
{
    if (n && sbuf_reserve(b, n)) {
        memset(b->p + b->len, value, n);
        b->len += n;
    }
}

void sbuf_u8(sbuf_t *b, uint8_t v) { sbuf_put(b, &v, 1); }

void sbuf_u16(sbuf_t *b, uint16_t v)
{
    uint8_t le[2];
    molt_put_le16(le, v);
    sbuf_put(b, le, 2);
}

void sbuf_free(sbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
