/*
 * cmd_verify.c - `molt verify`: judge an image exactly as a device would.
 *
 *   molt verify -k PUB [-k PUB ...] [--hash-only] [--role upload|installed]
 *               [--min-security-counter N] [--min-version V]
 *               [--enc-key ENC_PRIV [--envelope ENV]] [--require-encryption] IMAGE
 *
 * --enc-key plays the device's key store: lib/ asks it for the ECDH and decrypts
 * the payload itself, exactly as on a device.
 *
 * Exit 0: valid (one line on stdout). Exit 1: invalid, the reason on stderr.
 * Exit 2: usage or I/O error. All judgement is libmolt's molt_verify().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "molt_host/encrypt.h"
#include "molt_host/keyring.h"
#include "molt/verify.h"
#include "molt_host/version.h"

static const char *sig_name(uint32_t alg)
{
    switch (alg) {
    case MOLT_SIG_ECDSA_P256: return "ecdsa-p256";
    case MOLT_SIG_ECDSA_P384: return "ecdsa-p384";
    case MOLT_SIG_ED25519: return "ed25519";
    case MOLT_SIG_ED25519_PURE: return "ed25519-pure";
    case MOLT_SIG_RSA2048_PSS: return "rsa-2048-pss";
    case MOLT_SIG_RSA3072_PSS: return "rsa-3072-pss";
    default: return "none";
    }
}

static int usage(FILE *f)
{
    fprintf(f, "usage: molt verify -k PUB [-k PUB ...] [--hash-only] [--role upload|installed]\n"
               "                   [--min-security-counter N] [--min-version V]\n"
               "                   [--enc-key ENC_PRIV [--envelope ENV]] [--require-encryption] IMAGE\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"hash-only", no_argument, NULL, 'H'},
        {"role", required_argument, NULL, 'r'},
        {"min-security-counter", required_argument, NULL, 'c'},
        {"min-version", required_argument, NULL, 'm'},
        {"enc-key", required_argument, NULL, 'E'},
        {"envelope", required_argument, NULL, 'n'},
        {"require-encryption", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    host_keyring_t kr = {0};
    enc_key_t ek = {0};
    molt_decrypt_t dec = {enc_host_ecdh, &ek, NULL, 0, enc_host_rsa_unwrap};
    uint8_t *env = NULL, *img = NULL;
    size_t env_len = 0;
    const char *env_path = NULL;
    molt_policy_t pol;
    int c, rc = EXIT_USAGE;
    uint64_t v;
    const char *why;

    molt_policy_default(&pol);
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (!host_keyring_add(&kr, optarg))
                goto out;
            break;
        case 'H':
            pol.require_signature = false;
            break;
        case 'r':
            if (!strcmp(optarg, "upload"))
                pol.role = MOLT_ROLE_UPLOAD;
            else if (!strcmp(optarg, "installed"))
                pol.role = MOLT_ROLE_INSTALLED;
            else {
                host_error("--role: expected upload or installed, got '%s'", optarg);
                goto out;
            }
            break;
        case 'c':
            if (!host_parse_u64(optarg, UINT32_MAX, &v)) {
                host_error("--min-security-counter: '%s' is not a number up to 4294967295", optarg);
                goto out;
            }
            pol.check_sec_cnt = true;
            pol.min_sec_cnt = (uint32_t)v;
            break;
        case 'm':
            if (!host_parse_version(optarg, &pol.min_version, &why)) {
                host_error("--min-version: '%s': %s", optarg, why);
                goto out;
            }
            pol.check_version = true;
            break;
        case 'E':
            if (ek.pkey) {
                host_error("--enc-key: given twice");
                goto out;
            }
            if (!enc_key_load(optarg, true, &ek))
                goto out;
            pol.dec = &dec;
            break;
        case 'n':
            env_path = optarg;
            break;
        case 'R':
            pol.require_encryption = true;
            break;
        case 'h':
            rc = usage(stdout);
            goto out;
        default:
            rc = usage(stderr);
            goto out;
        }
    }
    if (env_path && !ek.pkey) {
        host_error("--envelope needs --enc-key (the device key the envelope was made for)");
        goto out;
    }
    if (env_path) {
        if (!host_read_file(env_path, &env, &env_len))
            goto out;
        dec.envelope = env;
        dec.envelope_len = env_len;
    }
    if (optind != argc - 1) {
        rc = usage(stderr);
        goto out;
    }
    if (kr.ring.count == 0 && pol.require_signature) {
        host_error("no trusted key: give -k PUB (or --hash-only to check integrity alone)");
        goto out;
    }
    const char *path = argv[optind];
    size_t len;
    if (!host_read_file(path, &img, &len))
        goto out;
    if (len > UINT32_MAX) {
        host_error("%s: larger than 4 GiB", path);
        goto out;
    }
    molt_source_t src;
    molt_mem_source_t mem;
    molt_verify_result_t res;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    molt_err_t err = molt_verify(&src, &kr.ring, &pol, &res);
    if (err != MOLT_OK) {
        fprintf(stderr, "molt verify: %s: %s [%s]\n", path, molt_err_str(err), molt_err_name(err));
        rc = EXIT_INVALID;
    } else {
        char ver[48];
        host_format_version(&res.image.version, ver, sizeof ver);
        printf("%s: valid: version %s", path, ver);
        if (res.image.has_sec_cnt)
            printf(", security counter %u", res.image.sec_cnt);
        if (res.signed_ok)
            printf(", %s signature by %s", sig_name(res.sig_alg), kr.paths[res.key_index]);
        else
            printf(", hash only (no signature checked)");
        if (res.decrypted)
            printf(", decrypted (%s)", env_path ? "key from the envelope" : "key from the key TLV");
        printf("\n");
        rc = EXIT_VALID;
    }
out:
    free(img);
    free(env);
    enc_key_free(&ek);
    host_keyring_free(&kr);
    return rc;
}
