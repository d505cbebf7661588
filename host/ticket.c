/*
 * ticket.c - sign deferral tickets (ticket.h).
 */
#include "molt_host/ticket.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4u; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

static bool is_p256(EVP_PKEY *key)
{
    char group[32] = "";
    size_t n = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &n) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

bool ticket_make(EVP_PKEY *key, const uint8_t id[MOLT_AWDT_ID_LEN], const uint8_t nonce[MOLT_AWDT_NONCE_LEN],
                 uint32_t secs, uint32_t boots, uint8_t out[MOLT_AWDT_TICKET_LEN], const char **why)
{
    static const char *dummy;
    uint8_t der[80];
    size_t dlen = sizeof der;
    bool ok = false;
    if (why == NULL)
        why = &dummy;
    *why = "the ticket key is not an ECDSA P-256 private key";
    if (!is_p256(key))
        return false;
    if (secs == 0 || boots == 0) {
        *why = "a ticket grants at least one second and one boot";
        return false;
    }
    memcpy(out, "MDT1", 4);
    memcpy(out + 4, id, MOLT_AWDT_ID_LEN);
    memcpy(out + 36, nonce, MOLT_AWDT_NONCE_LEN);
    put32(out + 52, secs);
    put32(out + 56, boots);
    *why = "signing failed";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = NULL;
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &dlen, out, MOLT_AWDT_SIGNED_LEN) != 1)
        goto done;
    const uint8_t *p = der;
    if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL)
        goto done;
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out + MOLT_AWDT_SIGNED_LEN, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + MOLT_AWDT_SIGNED_LEN + 32, 32) == 32;
done:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    if (ok)
        *why = NULL;
    return ok;
}

bool ticket_device_id(const uint8_t iak_pub[65], uint8_t id[MOLT_AWDT_ID_LEN])
{
    return iak_pub[0] == 0x04 && SHA256(iak_pub, 65, id) != NULL;
}
