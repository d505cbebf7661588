/*
 * cmd_ticket.c - `molt ticket`: the deployer signs a deferral ticket offline
 * (R-AVAIL; moltd does the same online, docs/awdt.md).
 *
 *   molt ticket -k TICKET_KEY.pem --device-id HEX|--iak PUB.pem --nonce HEX
 *               --seconds S --boots B [-o FILE]
 *
 * Prints the 124-byte ticket in hex (or writes it raw to FILE). The device
 * identity is SHA-256 of the device's IAK point: give it directly or as the
 * IAK public key (`molt sim iak`). Exit 0: signed; 2: usage or a key error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli.h"
#include "molt_host/ticket.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: molt ticket -k TICKET_KEY.pem (--device-id HEX | --iak PUB.pem) --nonce HEX\n"
               "                   --seconds S --boots B [-o FILE]\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static EVP_PKEY *load_pem(const char *path, bool priv)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    EVP_PKEY *k = priv ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);
    return k;
}

static bool u32_arg(const char *opt, const char *s, uint32_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end != '\0' || s[0] == '-' || v == 0 || v > UINT32_MAX) {
        host_error("%s: expected an integer from 1 to 4294967295, got '%s'", opt, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

int cmd_ticket(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},     {"device-id", required_argument, NULL, 'd'},
        {"iak", required_argument, NULL, 'i'},     {"nonce", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"boots", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *dev = NULL, *iak = NULL, *nonce = NULL, *out = NULL;
    uint32_t secs = 0, boots = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 'd': dev = optarg; break;
        case 'i': iak = optarg; break;
        case 'n': nonce = optarg; break;
        case 's': if (!u32_arg("--seconds", optarg, &secs)) return EXIT_USAGE; break;
        case 'b': if (!u32_arg("--boots", optarg, &boots)) return EXIT_USAGE; break;
        case 'o': out = optarg; break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (optind != argc || key == NULL || nonce == NULL || secs == 0 || boots == 0 || (dev == NULL) == (iak == NULL))
        return usage(stderr);
    uint8_t id[MOLT_AWDT_ID_LEN], n[MOLT_AWDT_NONCE_LEN], t[MOLT_AWDT_TICKET_LEN];
    size_t len = 0;
    if (!host_parse_hex(nonce, n, sizeof n, &len) || len != sizeof n)
        return host_error("--nonce: expected %u bytes in hex", (unsigned)sizeof n);
    if (dev != NULL && (!host_parse_hex(dev, id, sizeof id, &len) || len != sizeof id))
        return host_error("--device-id: expected %u bytes in hex", (unsigned)sizeof id);
    if (iak != NULL) {
        EVP_PKEY *pk = load_pem(iak, false);
        uint8_t pt[65];
        size_t pl = 0;
        bool ok = pk != NULL &&
                  EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &pl) == 1 &&
                  pl == sizeof pt && ticket_device_id(pt, id);
        EVP_PKEY_free(pk);
        if (!ok)
            return host_error("--iak %s: not a P-256 public key in PEM", iak);
    }
    EVP_PKEY *k = load_pem(key, true);
    if (k == NULL)
        return host_error("-k %s: cannot read a PEM private key", key);
    const char *why = NULL;
    bool ok = ticket_make(k, id, n, secs, boots, t, &why);
    EVP_PKEY_free(k);
    if (!ok)
        return host_error("-k %s: %s", key, why);
    if (out != NULL) {
        FILE *fp = fopen(out, "wb");
        bool w = fp != NULL && fwrite(t, 1, sizeof t, fp) == sizeof t;
        if (fp == NULL || fclose(fp) != 0 || !w)
            return host_error("%s: cannot write", out);
        return EXIT_VALID;
    }
    char hex[2 * sizeof t + 1];
    host_hex(t, sizeof t, hex);
    printf("%s\n", hex);
    return EXIT_VALID;
}
