/*
 * cmd_attest.c - `molt attest verify`: check a device's attestation token.
 *
 *   molt attest verify --iak PUB --nonce HEX TOKEN [--json]
 *
 * The token is decoded with libcbor and verified with OpenSSL, independently of
 * libmolt's encoder (R-ATTEST): CBOR tag 18 (COSE_Sign1), a 4-element array,
 * a protected header {1: -7} (ES256, no crit), a 64-byte raw r || s signature
 * over the Sig_structure ["Signature1", protected, h'', payload] by the IAK,
 * an unprotected header empty or holding only the kid, which must then be
 * SHA-256(IAK point); then the claims: nonce equal to --nonce, the profile,
 * instance id 0x01 || SHA-256(IAK point), implementation id, lifecycle,
 * client id, boot seed, one or more software components with their
 * measurement value and signer id, no duplicate claim. The checks live in
 * attest_check.c, shared with moltd's attestation endpoint.
 * Exit 0: valid (claims printed); 1: refused, one line with the reason;
 * 2: usage or I/O error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "molt_host/attest_check.h"
#include "cli.h"
#include "molt/attest.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: molt attest verify --iak PUB --nonce HEX TOKEN [--json]\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

bool cli_write_p256_pem(const uint8_t pub[65], const char *path)
{
    EVP_PKEY *key = attest_p256_from_point(pub);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    bool ok = false;

    if (key == NULL || bio == NULL || !PEM_write_bio_PUBKEY(bio, key) || (n = BIO_get_mem_data(bio, &data)) <= 0)
        host_error("cannot encode the public key");
    else
        ok = host_write_file(path, (const uint8_t *)data, (size_t)n);
    BIO_free(bio);
    EVP_PKEY_free(key);
    return ok;
}

/* The raw point of a P-256 key file (PEM/DER, public or private). */
static bool load_iak(const char *path, uint8_t pub[65])
{
    bool is_private = false;
    EVP_PKEY *key = host_load_key(path, &is_private);
    char group[64] = "";
    size_t n = 0;
    bool ok = false;

    if (key == NULL)
        return false;
    if (!EVP_PKEY_is_a(key, "EC") ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
        strcmp(group, "prime256v1") != 0)
        host_error("%s: the IAK must be an ECDSA P-256 key", path);
    else if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, 65, &n) || n != 65 ||
             pub[0] != 0x04)
        host_error("%s: cannot read the public point", path);
    else
        ok = true;
    EVP_PKEY_free(key);
    return ok;
}


static void print_claims(const char *path, json_t *c)
{
    printf("%s: valid attestation token (COSE_Sign1, ES256)\n", path);
    printf("profile: %s\n", json_string_value(json_object_get(c, "profile")));
    printf("nonce: %s\n", json_string_value(json_object_get(c, "nonce")));
    printf("instance id: %s\n", json_string_value(json_object_get(c, "instance_id")));
    printf("implementation id: %s\n", json_string_value(json_object_get(c, "implementation_id")));
    printf("security lifecycle: 0x%04llx (%s)\n",
           (unsigned long long)json_integer_value(json_object_get(c, "security_lifecycle")),
           json_string_value(json_object_get(c, "lifecycle_state")));
    printf("client id: %lld\n", (long long)json_integer_value(json_object_get(c, "client_id")));
    json_t *seed = json_object_get(c, "boot_seed"), *cnt = json_object_get(c, "security_counter");
    printf("boot seed: %s\n", json_is_string(seed) ? json_string_value(seed) : "(absent)");
    if (json_is_integer(cnt))
        printf("security counter: %lld\n", (long long)json_integer_value(cnt));
    else
        printf("security counter: (absent)\n");
    json_t *comps = json_object_get(c, "software_components"), *sc;
    size_t i;
    json_array_foreach(comps, i, sc) {
        json_t *type = json_object_get(sc, "measurement_type"), *ver = json_object_get(sc, "version"),
               *desc = json_object_get(sc, "measurement_desc");
        printf("component %zu: %s, version %s, %s %s, signer id %s\n", i,
               json_is_string(type) ? json_string_value(type) : "-",
               json_is_string(ver) ? json_string_value(ver) : "-",
               json_is_string(desc) ? json_string_value(desc) : "hash",
               json_string_value(json_object_get(sc, "measurement_value")),
               json_string_value(json_object_get(sc, "signer_id")));
    }
}

static int attest_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"iak", required_argument, NULL, 'i'},
        {"nonce", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *iak = NULL, *nonce_hex = NULL;
    bool json = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': iak = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 'j': json = true; break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (iak == NULL || nonce_hex == NULL || argc - optind != 1)
        return usage(stderr);
    uint8_t nonce[64], pub[65];
    size_t nonce_len = 0;
    if (!host_parse_hex(nonce_hex, nonce, sizeof nonce, &nonce_len) ||
        (nonce_len != 32 && nonce_len != 48 && nonce_len != 64))
        return host_error("--nonce: expected 32, 48 or 64 bytes in hex");
    if (!load_iak(iak, pub))
        return EXIT_USAGE;
    const char *path = argv[optind];
    uint8_t *tok;
    size_t len;
    if (!host_read_file(path, &tok, &len))
        return EXIT_USAGE;
    attest_verdict_t v;
    memset(&v, 0, sizeof v);
    bool ok = attest_check_token(tok, len, pub, nonce, nonce_len, &v);
    free(tok);
    if (!ok) {
        if (json) {
            json_t *j = json_pack("{s:b,s:s}", "valid", 0, "reason", v.reason);
            char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (s)
                printf("%s\n", s);
            free(s);
            json_decref(j);
        }
        host_error("%s: %s", path, v.reason);
        return EXIT_INVALID;
    }
    if (json) {
        json_t *j = json_pack("{s:b}", "valid", 1);
        json_object_update(j, v.claims);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        print_claims(path, v.claims);
    }
    json_decref(v.claims);
    return EXIT_VALID;
}

int cmd_attest(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        return usage(stdout);
    if (!strcmp(argv[1], "verify"))
        return attest_verify(argc - 1, argv + 1);
    host_error("unknown subcommand '%s' (verify)", argv[1]);
    return EXIT_USAGE;
}
