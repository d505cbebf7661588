/*
 * test_awdt.c - deferral tickets (R-AVAIL, lib/awdt.c): a good ticket extends
 * the deadline from its nonce's issue and is single use; forged, altered,
 * replayed, expired, other-device, over-long and malformed tickets are refused
 * with their own reason and leave the state as it was. The tickets are made
 * here with PSA Crypto and a key of the test's own, independently of lib/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "check.h"
#include "molt/awdt.h"

static const uint8_t k_spki_p256[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

typedef struct signer {
    psa_key_id_t id;
    uint8_t der[91];
    molt_key_t key;
} signer_t;

static void signer_new(signer_t *s)
{
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&at, 256);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
    psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
    CHECK(psa_generate_key(&at, &s->id) == PSA_SUCCESS, "generate a ticket key");
    size_t n = 0;
    memcpy(s->der, k_spki_p256, sizeof k_spki_p256);
    CHECK(psa_export_public_key(s->id, s->der + 26, 65, &n) == PSA_SUCCESS && n == 65, "export it");
    s->key.der = s->der;
    s->key.der_len = sizeof s->der;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The deployer's side, written from the format in molt/awdt.h. */
static void make_ticket(uint8_t t[MOLT_AWDT_TICKET_LEN], const signer_t *s, const uint8_t *dev, const uint8_t *nonce,
                        uint32_t secs, uint32_t boots)
{
    memcpy(t, "MDT1", 4);
    memcpy(t + 4, dev, 32);
    memcpy(t + 36, nonce, 16);
    put32(t + 52, secs);
    put32(t + 56, boots);
    uint8_t h[32];
    size_t n = 0;
    CHECK(psa_hash_compute(PSA_ALG_SHA_256, t, 60, h, 32, &n) == PSA_SUCCESS, "hash");
    CHECK(psa_sign_hash(s->id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, 32, t + 60, 64, &n) == PSA_SUCCESS && n == 64,
          "sign");
}

static uint32_t g_rng = 12345u;
static molt_err_t test_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        g_rng = g_rng * 1103515245u + 12345u;
        ((uint8_t *)buf)[i] = (uint8_t)(g_rng >> 16);
    }
    return MOLT_OK;
}

static signer_t g_deployer, g_other;
static molt_awdt_policy_t g_pol;

/* A fresh state: deadline 1000 s / boot 10, nonce issued at t = 500, boot 3. */
static void fresh(molt_awdt_state_t *st)
{
    memset(st, 0, sizeof *st);
    st->deadline = 1000;
    st->boot_limit = 10;
    CHECK_EQ(molt_awdt_nonce(st, test_random, NULL, 500, 3), MOLT_OK);
}

/* Refused with want, state untouched. */
static void refused(const uint8_t *t, size_t len, uint32_t now, molt_awdt_state_t *st, molt_err_t want,
                    const char *what)
{
    molt_awdt_state_t before = *st;
    molt_err_t e = molt_awdt_ticket_check(&g_pol, st, t, len, now);
    CHECK(e == want, "%s: got %s, expected %s", what, molt_err_name(e), molt_err_name(want));
    CHECK(memcmp(&before, st, sizeof before) == 0, "%s: state untouched", what);
}

int main(void)
{
    CHECK(psa_crypto_init() == PSA_SUCCESS, "psa init");
    signer_new(&g_deployer);
    signer_new(&g_other);
    molt_keyring_t ring = {&g_deployer.key, 1};
    memset(&g_pol, 0, sizeof g_pol);
    g_pol.keys = &ring;
    memset(g_pol.device_id, 0xd1, 32);
    g_pol.max_seconds = 7 * 24 * 3600;
    g_pol.max_boots = 100;
    g_pol.nonce_ttl = 600;
    uint8_t other_dev[32];
    memset(other_dev, 0xd2, 32);

    molt_awdt_state_t st;
    uint8_t t[MOLT_AWDT_TICKET_LEN];

    /* A good ticket: counted from the nonce's issue (t = 500, boot 3), single use. */
    fresh(&st);
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 86400, 20);
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 700), MOLT_OK);
    CHECK_EQ(st.deadline, 500 + 86400);
    CHECK_EQ(st.boot_limit, 3 + 20);
    CHECK(!st.nonce_out, "nonce consumed");
    CHECK(!molt_awdt_expired(&st, 86899, 22), "not expired before the deadline");
    CHECK(molt_awdt_expired(&st, 86900, 22), "expired at the deadline");
    CHECK(molt_awdt_expired(&st, 1000, 23), "expired at the boot limit");
    refused(t, sizeof t, 701, &st, MOLT_E_AWDT_NONCE, "replayed");

    /* A new nonce replaces the outstanding one: a ticket for the old one is refused. */
    fresh(&st);
    uint8_t old_nonce[16];
    memcpy(old_nonce, st.nonce, 16);
    CHECK_EQ(molt_awdt_nonce(&st, test_random, NULL, 510, 3), MOLT_OK);
    CHECK(memcmp(old_nonce, st.nonce, 16) != 0, "fresh nonce differs");
    make_ticket(t, &g_deployer, g_pol.device_id, old_nonce, 3600, 5);
    refused(t, sizeof t, 520, &st, MOLT_E_AWDT_NONCE, "answers a replaced nonce");
    /* No nonce outstanding at all. */
    st.nonce_out = false;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 520, &st, MOLT_E_AWDT_NONCE, "no nonce outstanding");

    /* Forged: another key; altered after signing. */
    fresh(&st);
    make_ticket(t, &g_other, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "signed by a key not in the ticket keyring");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    put32(t + 52, 3601);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "extension altered after signing");
    molt_keyring_t empty = {NULL, 0};
    g_pol.keys = &empty;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_SIG, "device without ticket keys");
    g_pol.keys = &ring;

    /* Another device's ticket, signed by the deployer. */
    make_ticket(t, &g_deployer, other_dev, st.nonce, 3600, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_DEVICE, "issued for another device");

    /* Expired: presented after the nonce's ttl, or with the clock behind the nonce. */
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t, 500 + 601, &st, MOLT_E_AWDT_EXPIRED, "nonce older than its ttl");
    refused(t, sizeof t, 499, &st, MOLT_E_AWDT_EXPIRED, "clock behind the nonce");
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 500 + 600), MOLT_OK); /* the last good second */

    /* Over-long: seconds or boots beyond the device's bound. */
    fresh(&st);
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, g_pol.max_seconds + 1, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "seconds beyond max");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, g_pol.max_boots + 1);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "boots beyond max");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, UINT32_MAX, UINT32_MAX);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_TOO_LONG, "wrap-around extension");

    /* Malformed: length, magic, zero extension (signed, so only the rule refuses it). */
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 5);
    refused(t, sizeof t - 1, 600, &st, MOLT_E_AWDT_FORMAT, "one byte short");
    refused(NULL, 0, 600, &st, MOLT_E_AWDT_FORMAT, "empty");
    t[0] = 'X';
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "wrong magic");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 0, 5);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "zero seconds");
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 3600, 0);
    refused(t, sizeof t, 600, &st, MOLT_E_AWDT_FORMAT, "zero boots");

    /* A ticket never shortens a deadline already granted. */
    fresh(&st);
    st.deadline = 100000;
    st.boot_limit = 50;
    make_ticket(t, &g_deployer, g_pol.device_id, st.nonce, 60, 1);
    CHECK_EQ(molt_awdt_ticket_check(&g_pol, &st, t, sizeof t, 501), MOLT_OK);
    CHECK_EQ(st.deadline, 100000);
    CHECK_EQ(st.boot_limit, 50);

    /* Randomised (fixed seed): any change to a good ticket's bytes is refused
     * and leaves the state untouched; the unchanged ticket is then accepted. */
    srand(20261202);
    unsigned accepted = 0;
    for (int round = 0; round < 300; round++) {
        fresh(&st);
        uint8_t good[MOLT_AWDT_TICKET_LEN], bad[MOLT_AWDT_TICKET_LEN];
        make_ticket(good, &g_deployer, g_pol.device_id, st.nonce, 1 + (uint32_t)(rand() % 86400),
                    1 + (uint32_t)(rand() % 100));
        memcpy(bad, good, sizeof bad);
        int flips = 1 + rand() % 3;
        for (int f = 0; f < flips; f++)
            bad[rand() % MOLT_AWDT_TICKET_LEN] ^= (uint8_t)(1u << (rand() % 8));
        if (memcmp(bad, good, sizeof bad) != 0) {
            molt_awdt_state_t before = st;
            molt_err_t e = molt_awdt_ticket_check(&g_pol, &st, bad, sizeof bad, 550);
            CHECK(e != MOLT_OK, "round %d: altered ticket refused", round);
            CHECK(memcmp(&before, &st, sizeof st) == 0, "round %d: state untouched", round);
        }
        if (molt_awdt_ticket_check(&g_pol, &st, good, sizeof good, 550) == MOLT_OK)
            accepted++;
    }
    CHECK_EQ(accepted, 300);
    return check_done();
}
