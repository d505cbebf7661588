/*
 * cmd_enc.c - `molt decrypt` and `molt envelope make` (docs/cli.md, docs/encryption.md).
 *
 *   molt decrypt -k ENC_PRIV [--envelope ENV] [--payload] IN OUT
 *     Recovers the content key as a device does (lib/: key TLV or envelope, the
 *     ECDH by the given private key), checks the plaintext against the image's
 *     hash (integrity; no signature is checked: use molt verify for that) and
 *     writes the image with its payload in plaintext (ENCRYPTED flag and key TLV
 *     kept, like imgtool's --clear; it verifies with --role installed), or with
 *     --payload the plaintext payload alone (img_size bytes, padding included).
 *
 *   molt envelope make --content-key KEY --device DEVICE_PUB --image IMAGE -o OUT
 *     The deployer's side: an envelope carrying the content key (saved by
 *     molt sign --save-content-key) to one device, bound to IMAGE's hash.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "molt_host/encrypt.h"
#include "molt/enc.h"
#include "molt/verify.h"

static const char decrypt_usage[] = "usage: molt decrypt -k ENC_PRIV [--envelope ENV] [--payload] IN OUT\n";

int cmd_decrypt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"envelope", required_argument, NULL, 'n'},
        {"payload", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enc_key_t ek = {0};
    molt_decrypt_t dec = {enc_host_ecdh, &ek, NULL, 0, enc_host_rsa_unwrap};
    const char *key_path = NULL, *env_path = NULL;
    bool payload_only = false;
    uint8_t *img = NULL, *env = NULL;
    size_t len = 0, env_len = 0;
    int c, rc = EXIT_USAGE;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'n': env_path = optarg; break;
        case 'p': payload_only = true; break;
        case 'h': fputs(decrypt_usage, stdout); return EXIT_VALID;
        default: fputs(decrypt_usage, stderr); return EXIT_USAGE;
        }
    }
    if (!key_path || optind != argc - 2) {
        fputs(decrypt_usage, stderr);
        return EXIT_USAGE;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (!enc_key_load(key_path, true, &ek))
        goto done;
    if (env_path) {
        if (!host_read_file(env_path, &env, &env_len))
            goto done;
        dec.envelope = env;
        dec.envelope_len = env_len;
    }
    if (!host_read_file(in, &img, &len))
        goto done;
    if (len > UINT32_MAX) {
        host_error("%s: larger than 4 GiB", in);
        goto done;
    }
    /* Integrity through lib/, decrypting as a device does (hash over the plaintext). */
    molt_policy_t pol;
    molt_source_t src;
    molt_mem_source_t mem;
    molt_verify_result_t res;
    molt_policy_default(&pol);
    pol.require_signature = false;
    pol.dec = &dec;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    molt_err_t err = molt_verify(&src, NULL, &pol, &res);
    if (err == MOLT_OK && !res.decrypted)
        err = MOLT_E_FLAGS;
    if (err != MOLT_OK) {
        fprintf(stderr, "molt decrypt: %s: %s [%s]\n", in,
                err == MOLT_E_FLAGS && !(res.image.flags & MOLT_IMAGE_F_ENCRYPTED) ? "not an encrypted image"
                                                                                   : molt_err_str(err),
                molt_err_name(err));
        rc = EXIT_INVALID;
        goto done;
    }
    uint8_t key[MOLT_ENC_KEY_MAX], digest[64];
    size_t klen = 0, dlen = 0;
    uint16_t htype = 0;
    molt_ctr_t ctr = {0};
    enc_image_digest(&src, &res.image, &htype, digest, &dlen);
    err = molt_enc_content_key(&src, &res.image, &dec, digest, dlen, key, &klen);
    if (err == MOLT_OK)
        err = molt_ctr_start(&ctr, key, klen);
    OPENSSL_cleanse(key, sizeof key);
    if (err == MOLT_OK)
        err = molt_ctr_xor(&ctr, 0, img + res.image.payload_off, res.image.img_size);
    molt_ctr_end(&ctr);
    if (err != MOLT_OK) {
        fprintf(stderr, "molt decrypt: %s: %s [%s]\n", in, molt_err_str(err), molt_err_name(err));
        rc = EXIT_INVALID;
        goto done;
    }
    bool ok = payload_only ? host_write_file(out, img + res.image.payload_off, res.image.img_size)
                           : host_write_file(out, img, len);
    if (ok)
        printf("%s: decrypted %u payload bytes (%s) into %s\n", in, res.image.img_size,
               env_path ? "key from the envelope" : "key from the key TLV", out);
    rc = ok ? 0 : EXIT_USAGE;
done:
    if (img)
        OPENSSL_cleanse(img, len);
    free(img);
    free(env);
    enc_key_free(&ek);
    return rc;
}

static int envelope_usage(FILE *f)
{
    fprintf(f, "usage: molt envelope make --content-key KEY --device DEVICE_PUB --image IMAGE -o OUT\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static int envelope_make(int argc, char **argv)
{
    static const struct option opts[] = {
        {"content-key", required_argument, NULL, 'c'},
        {"device", required_argument, NULL, 'd'},
        {"image", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *kpath = NULL, *dpath = NULL, *ipath = NULL, *opath = NULL;
    uint8_t *key = NULL, *img = NULL;
    size_t klen = 0, len = 0;
    enc_key_t dev = {0};
    int c, rc = EXIT_USAGE;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': kpath = optarg; break;
        case 'd': dpath = optarg; break;
        case 'i': ipath = optarg; break;
        case 'o': opath = optarg; break;
        default: return envelope_usage(stderr);
        }
    }
    if (!kpath || !dpath || !ipath || !opath || optind != argc)
        return envelope_usage(stderr);
    if (!host_read_file(kpath, &key, &klen) || !enc_key_load(dpath, false, &dev) || !host_read_file(ipath, &img, &len))
        goto done;
    if (klen != 16 && klen != 32) {
        host_error("%s: a content key is 16 or 32 bytes (molt sign --save-content-key), not %zu", kpath, klen);
        goto done;
    }
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_source_from_mem(&src, &mem, img, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    molt_err_t err = molt_image_parse(&src, &im);
    uint8_t digest[64], env[MOLT_ENV_MAX];
    size_t dlen = 0, elen = 0;
    uint16_t htype = 0;
    if (err != MOLT_OK) {
        host_error("%s: %s [%s]", ipath, molt_err_str(err), molt_err_name(err));
        goto done;
    }
    if (molt_enc_key_len(im.flags) != klen) {
        host_error("%s: %s", ipath,
                  molt_enc_key_len(im.flags) ? "the content key's size does not match the image's AES flag"
                                             : "not an encrypted image");
        goto done;
    }
    if (!enc_image_digest(&src, &im, &htype, digest, &dlen)) {
        host_error("%s: no hash TLV to bind the envelope to", ipath);
        goto done;
    }
    if (!enc_make_envelope(&dev, key, klen, htype, digest, dlen, env, &elen) || !host_write_file(opath, env, elen))
        goto done;
    printf("%s: envelope for %s (%s), bound to %s, %zu bytes\n", opath, dpath, dev.x25519 ? "x25519" : "p-256",
           ipath, elen);
    rc = 0;
done:
    if (key)
        OPENSSL_cleanse(key, klen);
    free(key);
    free(img);
    enc_key_free(&dev);
    return rc;
}

int cmd_envelope(int argc, char **argv)
{
    if (cli_help_asked(argc, argv))
        return envelope_usage(stdout);
    if (argc >= 2 && !strcmp(argv[1], "make"))
        return envelope_make(argc - 1, argv + 1);
    return envelope_usage(stderr);
}
