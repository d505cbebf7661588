/*
 * keyring.c - trusted keys for `molt verify` and friends.
 */
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "molt_host/util.h"
#include "molt_host/keyring.h"

bool host_keyring_add(host_keyring_t *kr, const char *path)
{
    if (kr->ring.count >= HOST_MAX_KEYS) {
        host_error("%s: at most %d keys", path, HOST_MAX_KEYS);
        return false;
    }
    EVP_PKEY *key = host_load_key(path, NULL);
    if (!key)
        return false;
    uint8_t *der;
    size_t len;
    bool ok = host_pubkey_der(key, &der, &len);
    EVP_PKEY_free(key);
    if (!ok) {
        host_error("%s: cannot encode the public key", path);
        return false;
    }
    kr->keys[kr->ring.count] = (molt_key_t){der, len};
    kr->paths[kr->ring.count] = path;
    kr->ring.keys = kr->keys;
    kr->ring.count++;
    return true;
}

void host_keyring_free(host_keyring_t *kr)
{
    for (size_t i = 0; i < kr->ring.count; i++)
        OPENSSL_free((void *)kr->keys[i].der);
    kr->ring.count = 0;
}

const char *host_key_type_name(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    const char *name = "unknown";
    if (!k) {
        p = der;
        k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    }
    if (!k)
        return name;
    if (EVP_PKEY_is_a(k, "ED25519"))
        name = "ed25519";
    else if (EVP_PKEY_is_a(k, "X25519"))
        name = "x25519";
    else if (EVP_PKEY_is_a(k, "RSA"))
        name = EVP_PKEY_get_bits(k) == 2048 ? "rsa-2048" : EVP_PKEY_get_bits(k) == 3072 ? "rsa-3072" : "rsa";
    else if (EVP_PKEY_is_a(k, "EC"))
        name = EVP_PKEY_get_bits(k) == 256 ? "ecdsa-p256" : EVP_PKEY_get_bits(k) == 384 ? "ecdsa-p384" : "ec";
    EVP_PKEY_free(k);
    return name;
}
