/*
 * pkg.c - a package on upload: hashes (OpenSSL EVP) and the verdict of lib/'s
 * molt_verify() with the device class's registered signer keys, so moltd accepts
 * exactly what a device of that class would (R-AUTH on the deployer's side).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>

#include "molt_host/encrypt.h"
#include "molt/verify.h"
#include "moltd.h"
#include "molt_host/version.h"

EVP_PKEY *pkg_pem_key(const char *pem)
{
    EVP_PKEY *key = NULL;
    for (int sel = 0; sel < 2 && !key; sel++) {
        OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
            &key, "PEM", NULL, NULL, sel == 0 ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR, NULL, NULL);
        if (!dctx)
            continue;
        const unsigned char *p = (const unsigned char *)pem;
        size_t left = strlen(pem);
        if (!OSSL_DECODER_from_data(dctx, &p, &left))
            key = NULL;
        OSSL_DECODER_CTX_free(dctx);
    }
    ERR_clear_error();
    return key;
}

char *signer_cert_key(const char *pem, char *subject, size_t cap)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    BIO *o = x ? BIO_new(BIO_s_mem()) : NULL;
    char *out = NULL;
    if (o && PEM_write_bio_PUBKEY(o, X509_get0_pubkey(x)) == 1) {
        char *data;
        long n = BIO_get_mem_data(o, &data);
        out = n > 0 ? strndup(data, (size_t)n) : NULL;
        X509_NAME_oneline(X509_get_subject_name(x), subject, (int)cap);
    }
    BIO_free(o);
    X509_free(x);
    ERR_clear_error();
    return out;
}

bool pkg_parse_pem(const char *pem, uint8_t **der, size_t *der_len, const char **type)
{
    EVP_PKEY *key = pkg_pem_key(pem);
    if (!key)
        return false;
    unsigned char *out = NULL;
    size_t olen = 0;
    bool ok;
    if (EVP_PKEY_is_a(key, "RSA")) {
        /* PKCS#1 RSAPublicKey, as imgtool and MCUboot use for RSA. */
        OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "DER", "type-specific", NULL);
        ok = e && OSSL_ENCODER_to_data(e, &out, &olen);
        OSSL_ENCODER_CTX_free(e);
        *type = EVP_PKEY_get_bits(key) == 2048 ? "rsa-2048" : EVP_PKEY_get_bits(key) == 3072 ? "rsa-3072" : "rsa";
    } else {
        int n = i2d_PUBKEY(key, &out);
        ok = n > 0;
        olen = ok ? (size_t)n : 0;
        *type = EVP_PKEY_is_a(key, "ED25519") ? "ed25519"
                : EVP_PKEY_is_a(key, "X25519") ? "x25519"
                : EVP_PKEY_is_a(key, "EC")     ? (EVP_PKEY_get_bits(key) == 256   ? "ecdsa-p256"
                                                  : EVP_PKEY_get_bits(key) == 384 ? "ecdsa-p384"
                                                                                  : "ec")
                                               : "other";
    }
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!ok)
        return false;
    *der = malloc(olen);
    if (*der)
        memcpy(*der, out, olen);
    *der_len = olen;
    OPENSSL_free(out);
    return *der != NULL;
}

static void digest_hex(const EVP_MD *md, const void *data, size_t len, char *out)
{
    uint8_t buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, buf, &n, md, NULL);
    host_hex(buf, n, out);
}

/* An encrypted package is verified as a device verifies it (decrypted while
 * hashed, R-CONF), with the content key the deployer sent: it is sealed in an
 * envelope to a throw-away X25519 key, which lib/ opens like a device's. So the
 * key is proven to decrypt exactly the signed plaintext, by the device's code. */
typedef struct pkg_dec {
    enc_key_t tmp;
    uint8_t env[MOLT_ENV_MAX];
    molt_decrypt_t dec;
} pkg_dec_t;

static int pkg_dec_setup(pkg_dec_t *d, const molt_source_t *src, const uint8_t *ck, size_t ck_len,
                         pkg_info_t *info)
{
    molt_image_t im;
    bool parsed = molt_image_parse(src, &im) == MOLT_OK;
    size_t klen = parsed ? molt_enc_key_len(im.flags) : 0;
    memset(d, 0, sizeof *d);
    if (!parsed)
        return 0; /* molt_verify says why */
    if (klen && !ck) {
        snprintf(info->why, sizeof info->why,
                 "encrypted package: send its content key in X-Molt-Content-Key (molt sign --save-content-key)");
        info->why_name = molt_err_name(MOLT_E_ENC_NO_KEY);
        return 1;
    }
    if (!ck)
        return 0;
    if (!klen) {
        snprintf(info->why, sizeof info->why, "X-Molt-Content-Key given, but the package is not encrypted");
        info->why_name = "NOT_ENCRYPTED";
        return 1;
    }
    if (klen != ck_len) {
        snprintf(info->why, sizeof info->why, "the content key is %zu bytes; the package's AES flag wants %zu",
                 ck_len, klen);
        info->why_name = "CONTENT_KEY_SIZE";
        return 1;
    }
    uint8_t digest[64];
    size_t dlen = 0, elen = 0;
    uint16_t htype = 0;
    if (!enc_image_digest(src, &im, &htype, digest, &dlen)) {
        snprintf(info->why, sizeof info->why, "%s", molt_err_str(MOLT_E_HASH_MISSING));
        info->why_name = molt_err_name(MOLT_E_HASH_MISSING);
        return 1;
    }
    EVP_PKEY *tmp = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (!tmp || enc_key_adopt(tmp, true, true, &d->tmp) ||
        !enc_make_envelope(&d->tmp, ck, ck_len, htype, digest, dlen, d->env, &elen)) {
        snprintf(info->why, sizeof info->why, "cannot seal the content key for verification");
        return -1;
    }
    d->dec = (molt_decrypt_t){enc_host_ecdh, &d->tmp, d->env, elen, NULL};
    snprintf(info->encryption, sizeof info->encryption, "aes-%zu-ctr", klen * 8);
    uint8_t b[65];
    b[0] = (uint8_t)htype;
    memcpy(b + 1, digest, dlen);
    host_hex(b, dlen + 1, info->binding);
    return 0;
}

static void pkg_dec_free(pkg_dec_t *d)
{
    enc_key_free(&d->tmp);
    OPENSSL_cleanse(d->env, sizeof d->env);
}

int pkg_map(const char *path, uint64_t max, pkg_info_t *info, void **map)
{
    memset(info, 0, sizeof *info);
    info->signer = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(info->why, sizeof info->why, "cannot read the upload");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    info->size = (uint64_t)st.st_size;
    if (st.st_size == 0 || (uint64_t)st.st_size > max) {
        close(fd);
        snprintf(info->why, sizeof info->why, "%s", st.st_size == 0 ? "empty package" : "package larger than 4 GiB");
        info->why_name = st.st_size == 0 ? "TRUNCATED" : "TOO_LARGE";
        return 1;
    }
    *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (*map == MAP_FAILED) {
        snprintf(info->why, sizeof info->why, "cannot map the upload");
        return -1;
    }
    digest_hex(EVP_sha256(), *map, (size_t)st.st_size, info->sha256);
    digest_hex(EVP_sha1(), *map, (size_t)st.st_size, info->sha1);
    digest_hex(EVP_md5(), *map, (size_t)st.st_size, info->md5);
    return 0;
}

void pkg_version_key(const molt_version_t *v, char out[48])
{
    snprintf(out, 48, "%03u.%03u.%05u.%010u", v->major, v->minor, v->revision, v->build);
}

int pkg_check(const char *path, const uint8_t *const *der, const size_t *der_len, size_t nkeys, const uint8_t *ck,
              size_t ck_len, pkg_info_t *info)
{
    void *map = NULL;
    int mapped = pkg_map(path, UINT32_MAX, info, &map);
    if (mapped != 0)
        return mapped;
    size_t size = (size_t)info->size;

    molt_key_t keys[16];
    size_t n = nkeys < 16 ? nkeys : 16;
    for (size_t i = 0; i < n; i++)
        keys[i] = (molt_key_t){der[i], der_len[i]};
    molt_keyring_t ring = {keys, n};
    molt_policy_t pol;
    molt_policy_default(&pol);
    molt_source_t src;
    molt_mem_source_t mem;
    molt_source_from_mem(&src, &mem, map, (uint32_t)size);
    pkg_dec_t dec;
    int refused = pkg_dec_setup(&dec, &src, ck, ck_len, info);
    if (refused != 0) {
        pkg_dec_free(&dec);
        munmap(map, size);
        return refused;
    }
    if (info->encryption[0])
        pol.dec = &dec.dec;
    molt_verify_result_t res;
    molt_err_t err = molt_verify(&src, &ring, &pol, &res);
    pkg_dec_free(&dec);
    munmap(map, size);
    if (err != MOLT_OK) {
        snprintf(info->why, sizeof info->why, "%s", molt_err_str(err));
        info->why_name = molt_err_name(err);
        return 1;
    }
    const molt_version_t *v = &res.image.version;
    host_format_version(v, info->version, sizeof info->version);
    pkg_version_key(v, info->version_key);
    info->sec_cnt = res.image.has_sec_cnt ? res.image.sec_cnt : 0;
    info->signer = res.key_index;
    return 0;
}
