/*
 * cmd_keys.c - `molt keygen` and `molt getpub`: make a signing key and print
 * its public half in the forms imgtool's keygen/getpub use.
 *
 *   molt keygen -t ecdsa-p256|ecdsa-p384|ed25519|x25519|rsa-2048|rsa-3072 -k KEY.pem [--force]
 *     writes a PKCS#8 PEM private key, mode 0600, never over an existing file
 *     unless --force; the file appears complete or not at all.
 *   molt getpub -k KEY [-e c|lang-c|pem|raw|rust|lang-rust] [-o OUT]
 *     pem: SubjectPublicKeyInfo PEM; raw: the exact DER MCUboot hashes
 *     (SPKI for EC/Ed25519/X25519, PKCS#1 RSAPublicKey for RSA); c: a C array
 *     and its length, like `imgtool getpub -e lang-c` (the default, as there).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli.h"
#include "molt_host/image_writer.h"

/* ---- keygen ---- */

static EVP_PKEY *generate(const char *type)
{
    if (!strcmp(type, "ecdsa-p256"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!strcmp(type, "ecdsa-p384"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (!strcmp(type, "ed25519"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!strcmp(type, "x25519"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (!strcmp(type, "rsa-2048"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (!strcmp(type, "rsa-3072"))
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    return NULL;
}

static bool is_key_type(const char *type)
{
    static const char *const types[] = {"ecdsa-p256", "ecdsa-p384", "ed25519",
                                        "x25519",     "rsa-2048",   "rsa-3072"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(type, types[i]))
            return true;
    return false;
}

/* PKCS#8 (PrivateKeyInfo) PEM, unencrypted, as imgtool keygen writes. */
static bool encode_pkcs8_pem(EVP_PKEY *key, uint8_t **pem, size_t *len)
{
    OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_KEYPAIR, "PEM",
                                                           "PrivateKeyInfo", NULL);
    unsigned char *out = NULL;
    bool ok = ectx && OSSL_ENCODER_to_data(ectx, &out, len);
    OSSL_ENCODER_CTX_free(ectx);
    *pem = out;
    return ok;
}

static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return fsync(fd) == 0;
}

/* Write a secret file with mode 0600: temp file, then link() (fails if path
 * exists) or, with --force, rename() over it. */
bool cli_write_secret(const char *path, const uint8_t *buf, size_t len, bool force)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp)
        return host_error("%s: path too long", path), false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return host_error("%s: %s", path, strerror(errno)), false;
    bool ok = write_all(fd, buf, len);
    ok = close(fd) == 0 && ok;
    int err = errno;
    if (ok) {
        ok = force ? rename(tmp, path) == 0 : link(tmp, path) == 0;
        err = errno;
    }
    unlink(tmp);
    if (!ok && err == EEXIST)
        return host_error("%s: already exists (use --force to overwrite)", path), false;
    if (!ok)
        return host_error("%s: write error: %s", path, strerror(err)), false;
    return true;
}

static int keygen_run(const char *type, const char *path, bool force)
{
    struct stat st;
    if (!force && lstat(path, &st) == 0)
        return host_error("%s: already exists (use --force to overwrite)", path);
    EVP_PKEY *key = generate(type);
    uint8_t *pem = NULL;
    size_t len = 0;
    bool ok = key && encode_pkcs8_pem(key, &pem, &len);
    if (!ok)
        host_error("%s: key generation failed: %s", type, host_ossl_error());
    ok = ok && cli_write_secret(path, pem, len, force);
    if (pem)
        OPENSSL_clear_free(pem, len);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok ? 0 : EXIT_USAGE;
}

/* Returned by opt_value() when the value is missing (the error is printed). */
static const char missing_value[] = "";

/* Value of option argv[*i] (separate or as --opt=value), advancing *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *shrt, const char *lng)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (!strncmp(a, lng, n) && a[n] == '=')
        return a + n + 1;
    if (strcmp(a, shrt) && strcmp(a, lng))
        return NULL;
    if (*i + 1 >= argc) {
        host_error("%s needs a value", a);
        return missing_value;
    }
    return argv[++*i];
}

int cmd_keygen(int argc, char **argv)
{
    const char *type = NULL, *path = NULL, *v = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
            force = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: molt keygen -t ecdsa-p256|ecdsa-p384|ed25519|x25519|rsa-2048|rsa-3072 "
                 "-k KEY.pem [--force]");
            return 0;
        } else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--password")) {
            return host_error("%s: password-protected keys are not supported", argv[i]);
        } else if ((v = opt_value(argc, argv, &i, "-t", "--type"))) {
            type = v;
        } else if ((v = opt_value(argc, argv, &i, "-k", "--key"))) {
            path = v;
        } else {
            return host_error("unexpected argument '%s' (usage: molt keygen -t TYPE -k KEY.pem)", argv[i]);
        }
        if (v == missing_value)
            return EXIT_USAGE;
        v = NULL;
    }
    if (!type || !path)
        return host_error("need -t TYPE and -k KEY.pem");
    if (!is_key_type(type))
        return host_error("-t %s: unknown key type (ecdsa-p256, ecdsa-p384, ed25519, x25519, "
                         "rsa-2048, rsa-3072)", type);
    return keygen_run(type, path, force);
}

/* ---- getpub ---- */

/* imgtool's name for the key in generated source (its "shortname"). */
static const char *c_name(enum sign_key_type type)
{
    switch (type) {
    case SIGN_KEY_ECDSA_P256: return "ecdsa";
    case SIGN_KEY_ECDSA_P384: return "ecdsap384";
    case SIGN_KEY_RSA_2048: case SIGN_KEY_RSA_3072: return "rsa";
    case SIGN_KEY_ED25519: return "ed25519";
    case SIGN_KEY_X25519: return "x25519";
    default: return NULL;
    }
}

/* Append printf output to a buffer. */
static void bprintf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(sbuf_t *b, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        sbuf_put(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The bytes as a source array, eight per line, as imgtool prints them. */
static void emit_array(sbuf_t *b, const uint8_t *der, size_t len)
{
    for (size_t i = 0; i < len; i++)
        bprintf(b, "%s0x%02x,", i % 8 ? " " : "\n    ", der[i]);
    bprintf(b, "\n");
}

static void emit_c(sbuf_t *b, const char *name, const uint8_t *der, size_t len)
{
    bprintf(b, "/* Generated by molt getpub, do not edit. */\n");
    bprintf(b, "const unsigned char %s_pub_key[] = {", name);
    emit_array(b, der, len);
    bprintf(b, "};\nconst unsigned int %s_pub_key_len = %zu;\n", name, len);
}

static void emit_rust(sbuf_t *b, const char *name, const uint8_t *der, size_t len)
{
    char upper[32];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    upper[i] = '\0';
    bprintf(b, "/* Generated by molt getpub, do not edit. */\n");
    bprintf(b, "static %s_PUB_KEY: &[u8] = &[", upper);
    emit_array(b, der, len);
    bprintf(b, "];\n");
}

static bool emit_pem(sbuf_t *b, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    bool ok = bio && PEM_write_bio_PUBKEY(bio, key);
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (n > 0)
        sbuf_put(b, data, (size_t)n);
    BIO_free(bio);
    return ok && n > 0;
}

static bool render_pub(EVP_PKEY *key, const char *enc, sbuf_t *out, const char *path)
{
    const char *name = c_name(sign_key_classify(key));
    uint8_t *der = NULL;
    size_t len = 0;
    if (!name)
        return host_error("%s: unsupported key type", path), false;
    if (!strcmp(enc, "pem"))
        return emit_pem(out, key) || (host_error("%s: cannot encode the public key", path), false);
    if (!host_pubkey_der(key, &der, &len))
        return host_error("%s: cannot encode the public key", path), false;
    if (!strcmp(enc, "raw"))
        sbuf_put(out, der, len);
    else if (!strcmp(enc, "c") || !strcmp(enc, "lang-c"))
        emit_c(out, name, der, len);
    else
        emit_rust(out, name, der, len);
    OPENSSL_free(der);
    return true;
}

static bool is_encoding(const char *e)
{
    static const char *const encs[] = {"c", "lang-c", "pem", "raw", "rust", "lang-rust"};
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++)
        if (!strcmp(e, encs[i]))
            return true;
    return false;
}

static int getpub_run(const char *path, const char *enc, const char *out_path)
{
    EVP_PKEY *key = host_load_key(path, NULL);
    if (!key)
        return EXIT_USAGE;
    sbuf_t out = {0};
    bool ok = render_pub(key, enc, &out, path);
    if (ok && out.oom)
        ok = (host_error("out of memory"), false);
    ok = ok && host_write_file(out_path ? out_path : "-", out.p, out.len);
    sbuf_free(&out);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok ? 0 : EXIT_USAGE;
}

int cmd_getpub(int argc, char **argv)
{
    const char *path = NULL, *enc = "c", *out = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: molt getpub -k KEY [-e c|pem|raw|rust] [-o OUT]   (default: c)");
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "-k", "--key"))) {
            path = v;
        } else if ((v = opt_value(argc, argv, &i, "-e", "--encoding")) ||
                   (v = opt_value(argc, argv, &i, "-l", "--lang"))) {
            enc = v;
        } else if ((v = opt_value(argc, argv, &i, "-o", "--output"))) {
            out = v;
        } else {
            return host_error("unexpected argument '%s' (usage: molt getpub -k KEY [-e c|pem|raw])", argv[i]);
        }
        if (v == missing_value)
            return EXIT_USAGE;
    }
    if (!path)
        return host_error("need -k KEY");
    if (!is_encoding(enc))
        return host_error("-e %s: unknown encoding (c, pem, raw, rust)", enc);
    return getpub_run(path, enc, out);
}
