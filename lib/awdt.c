/*
 * awdt.c - deferral tickets for the authenticated watchdog (R-AVAIL;
 * molt/awdt.h). The check believes nothing a ticket says before a ticket key's
 * signature over it verifies, and changes the state only when every rule holds.
 */
#include "molt/awdt.h"

#include <string.h>

#include "crypto.h"

static const uint8_t k_magic[4] = {'M', 'D', 'T', '1'};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Equal, in time that does not depend on where the bytes differ. */
static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

molt_err_t molt_awdt_nonce(molt_awdt_state_t *st, molt_err_t (*random)(void *ctx, void *buf, size_t len),
                           void *ctx, uint32_t now, uint32_t boots)
{
    if (st == NULL || random == NULL)
        return MOLT_E_ARG;
    uint8_t n[MOLT_AWDT_NONCE_LEN];
    molt_err_t e = random(ctx, n, sizeof n);
    if (e != MOLT_OK)
        return e;
    memcpy(st->nonce, n, sizeof n);
    st->nonce_time = now;
    st->nonce_boot = boots;
    st->nonce_out = true;
    return MOLT_OK;
}

/* A ticket key signed the first MOLT_AWDT_SIGNED_LEN bytes. */
static molt_err_t signed_by_ticket_key(const molt_keyring_t *keys, const uint8_t *t)
{
    if (keys == NULL || keys->count == 0)
        return MOLT_E_AWDT_SIG;
    molt_err_t e = molt_crypto_init();
    if (e != MOLT_OK)
        return e;
    molt_hash_ctx_t h;
    uint8_t digest[32];
    size_t dlen = 0;
    if ((e = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return e;
    if ((e = molt_hash_update(&h, t, MOLT_AWDT_SIGNED_LEN)) != MOLT_OK ||
        (e = molt_hash_finish(&h, digest, sizeof digest, &dlen)) != MOLT_OK) {
        molt_hash_abort(&h);
        return e;
    }
    for (size_t i = 0; i < keys->count; i++) {
        molt_pubkey_t pk;
        if (molt_der_parse_pubkey(keys->keys[i].der, keys->keys[i].der_len, &pk) != MOLT_OK ||
            pk.type != MOLT_KEY_P256)
            continue;
        if (molt_ecdsa_verify_raw(&pk, MOLT_HASH_SHA256, digest, dlen, t + MOLT_AWDT_SIGNED_LEN, 64) == MOLT_OK)
            return MOLT_OK;
    }
    return MOLT_E_AWDT_SIG;
}

molt_err_t molt_awdt_ticket_check(const molt_awdt_policy_t *pol, molt_awdt_state_t *st, const uint8_t *ticket,
                                  size_t len, uint32_t now)
{
    if (pol == NULL || st == NULL || (ticket == NULL && len != 0))
        return MOLT_E_ARG;
    if (len != MOLT_AWDT_TICKET_LEN || memcmp(ticket, k_magic, sizeof k_magic) != 0)
        return MOLT_E_AWDT_FORMAT;
    molt_err_t e = signed_by_ticket_key(pol->keys, ticket);
    if (e != MOLT_OK)
        return e;
    uint32_t secs = le32(ticket + 52), boots = le32(ticket + 56);
    if (secs == 0 || boots == 0)
        return MOLT_E_AWDT_FORMAT;
    if (!same(ticket + 4, pol->device_id, MOLT_AWDT_ID_LEN))
        return MOLT_E_AWDT_DEVICE;
    if (!st->nonce_out || !same(ticket + 36, st->nonce, MOLT_AWDT_NONCE_LEN))
        return MOLT_E_AWDT_NONCE;
    /* Device time is monotonic; a clock that went backwards ages the nonce out. */
    if (now < st->nonce_time || now - st->nonce_time > pol->nonce_ttl)
        return MOLT_E_AWDT_EXPIRED;
    if (secs > pol->max_seconds || boots > pol->max_boots)
        return MOLT_E_AWDT_TOO_LONG;
    /* Counted from the nonce's issue, so a ticket held back gains nothing; never
     * shortens a deadline already granted, never wraps. */
    uint32_t dl = st->nonce_time + secs < st->nonce_time ? UINT32_MAX : st->nonce_time + secs;
    uint32_t bl = st->nonce_boot + boots < st->nonce_boot ? UINT32_MAX : st->nonce_boot + boots;
    if (dl > st->deadline)
        st->deadline = dl;
    if (bl > st->boot_limit)
        st->boot_limit = bl;
    st->nonce_out = false;
    memset(st->nonce, 0, sizeof st->nonce);
    return MOLT_OK;
}

bool molt_awdt_expired(const molt_awdt_state_t *st, uint32_t now, uint32_t boots)
{
    return st == NULL || now >= st->deadline || boots >= st->boot_limit;
}
