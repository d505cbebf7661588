/*
 * attest.c - PSA attestation token (RFC 9783 profile), see molt/attest.h.
 *
 * Two passes over the same deterministic encoder: the first (no buffer) sizes
 * the claims, so the payload's bstr head is known; the second writes the
 * token in place. The COSE Sig_structure
 *   ["Signature1", h'A10126', h'', payload]
 * is never materialised: its fixed prefix and the payload already in the
 * token buffer are fed to SHA-256, and the port signs that digest.
 */
#include "judge.h"
#include "molt/attest.h"

#include <stdbool.h>
#include <string.h>

#include "cbor.h"
#include "crypto.h"
#include "molt/keyrot.h" /* the ring pointer only: keyrot.c links only when the port wires it */
#include "molt/verify.h"
#include "trailer.h"

#define SLOTS 2u

/* {1: -7}: alg ES256, the whole protected header. */
static const uint8_t prot_hdr[3] = {0xa1, 0x01, 0x26};

typedef struct comp {
    const char *type;
    const char *desc;
    uint8_t value[MOLT_HASH_MAX_SIZE];
    size_t value_len;
    uint8_t signer[MOLT_HASH_MAX_SIZE];
    size_t signer_len;
    char version[32];
} comp_t;

typedef struct claims {
    const molt_attest_req_t *req;
    const molt_port_t *port;
    uint8_t ueid[33];
    uint32_t counter;
    comp_t comp[SLOTS];
    size_t ncomp;
} claims_t;

static char *put_dec(char *p, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static void version_str(const molt_version_t *v, char out[32])
{
    char *p = out;
    p = put_dec(p, v->major);
    *p++ = '.';
    p = put_dec(p, v->minor);
    *p++ = '.';
    p = put_dec(p, v->revision);
    *p++ = '+';
    p = put_dec(p, v->build);
    *p = '\0';
}

static const char *hash_desc(uint32_t alg)
{
    return alg == MOLT_HASH_SHA256 ? "sha-256" : alg == MOLT_HASH_SHA384 ? "sha-384" : "sha-512";
}

/* Errors that say nothing about the image: they end the request. */
static bool environment_error(molt_err_t e)
{
    return e == MOLT_E_ARG || e == MOLT_E_IO || e == MOLT_E_CRYPTO || e == MOLT_E_BUFFER;
}

/* Measure the image at base of slot id; *found = it passed the judge the boot
 * code uses: the same keys (the key set in force when cfg->keyrot is wired,
 * so an image by an added key is measured and one by a retired key is not),
 * the same boot stage. */
static molt_err_t measure_at(const molt_port_t *port, const molt_boot_cfg_t *cfg, unsigned id, uint32_t base,
                             uint32_t counter, comp_t *c, bool *found)
{
    molt_area_src_t ctx;
    molt_source_t src;
    molt_judge_in_t in = {MOLT_ROLE_INSTALLED, counter, NULL, false, NULL, NULL, cfg->keyrot, cfg->stage};
    molt_verify_result_t vr;
    const molt_keyring_t *ring = &port->keys;
    molt_keyring_t inforce;
    molt_err_t e;

    *found = false;
    molt_area_source(&src, &ctx, &port->area[id], base);
    e = molt_judge(port, &src, &in, &vr);
    if (e != MOLT_OK)
        return environment_error(e) ? e : MOLT_OK;
    /* vr.key_index indexes the ring the judge verified with. */
    if (cfg->keyrot != NULL) {
        if ((e = cfg->keyrot->ring(cfg->keyrot, &port->keys, &inforce)) != MOLT_OK)
            return e;
        ring = &inforce;
    }
    if (vr.key_index < 0 || (size_t)vr.key_index >= ring->count || vr.hash_len == 0)
        return MOLT_OK; /* not signed by a trusted key: nothing to attest */
    memcpy(c->value, vr.hash, vr.hash_len);
    c->value_len = vr.hash_len;
    if ((e = molt_key_hash(&ring->keys[vr.key_index], vr.hash_alg, c->signer, &c->signer_len)) != MOLT_OK)
        return e;
    c->desc = hash_desc(vr.hash_alg);
    version_str(&vr.image.version, c->version);
    *found = true;
    return MOLT_OK;
}

static molt_err_t measure_slot(const molt_port_t *port, const molt_attest_req_t *req, unsigned id, comp_t *c,
                               uint32_t counter, bool *found)
{
    molt_err_t e;
    uint32_t base = 0;

    if (id == MOLT_AREA_SECONDARY)
        base = molt_boot_staging_offset(port, &req->boot);
    if ((e = measure_at(port, &req->boot, id, base, counter, c, found)) != MOLT_OK || *found || base == 0)
        return e;
    /* SWAP: after an activation the previous image sits at the start of SECONDARY. */
    return measure_at(port, &req->boot, id, 0, counter, c, found);
}

static void encode_claims(molt_cbor_t *c, const claims_t *cl)
{
    const molt_attest_req_t *req = cl->req;
    const molt_port_t *port = cl->port;

    /* Keys in the bytewise order of their encodings (deterministic CBOR):
     * 0a, 19 0100, 19 0109, 19 010c, 19 095a, 19 095b, 19 095c, 19 095f, 3a ... */
    molt_cbor_map(c, 9);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_NONCE);
    molt_cbor_bstr(c, req->challenge, req->challenge_len);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_INSTANCE_ID);
    molt_cbor_bstr(c, cl->ueid, sizeof cl->ueid);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_PROFILE);
    molt_cbor_tstr_z(c, MOLT_ATTEST_PROFILE);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_BOOT_SEED);
    molt_cbor_bstr(c, port->attest_boot_seed, 32);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_CLIENT_ID);
    molt_cbor_int(c, req->client_id);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_LIFECYCLE);
    molt_cbor_uint(c, port->attest_lifecycle);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_IMPL_ID);
    molt_cbor_bstr(c, port->attest_impl_id, 32);
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_SW_COMPONENTS);
    molt_cbor_array(c, cl->ncomp);
    for (size_t i = 0; i < cl->ncomp; i++) {
        const comp_t *m = &cl->comp[i];
        molt_cbor_map(c, 5);
        molt_cbor_uint(c, MOLT_ATTEST_SWC_TYPE);
        molt_cbor_tstr_z(c, m->type);
        molt_cbor_uint(c, MOLT_ATTEST_SWC_VALUE);
        molt_cbor_bstr(c, m->value, m->value_len);
        molt_cbor_uint(c, MOLT_ATTEST_SWC_VERSION);
        molt_cbor_tstr_z(c, m->version);
        molt_cbor_uint(c, MOLT_ATTEST_SWC_SIGNER_ID);
        molt_cbor_bstr(c, m->signer, m->signer_len);
        molt_cbor_uint(c, MOLT_ATTEST_SWC_DESC);
        molt_cbor_tstr_z(c, m->desc);
    }
    molt_cbor_int(c, MOLT_ATTEST_CLAIM_SECURITY_COUNTER);
    molt_cbor_uint(c, cl->counter);
}

molt_err_t molt_attest_instance_id(const uint8_t pub[65], uint8_t ueid[33])
{
    molt_hash_ctx_t h;
    size_t n = 0;
    molt_err_t e;

    if (pub == NULL || ueid == NULL || pub[0] != 0x04)
        return MOLT_E_ARG;
    if ((e = molt_crypto_init()) != MOLT_OK || (e = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return e;
    if ((e = molt_hash_update(&h, pub, 65)) != MOLT_OK) {
        molt_hash_abort(&h);
        return e;
    }
    if ((e = molt_hash_finish(&h, ueid + 1, 32, &n)) != MOLT_OK)
        return e;
    ueid[0] = 0x01; /* EAT UEID type: RAND (a hash of the key, unique per device) */
    return n == 32 ? MOLT_OK : MOLT_E_CRYPTO;
}

/* SHA-256 of the Sig_structure ["Signature1", prot, h'', payload]. */
static molt_err_t sig_digest(const uint8_t *payload, size_t plen, uint8_t digest[32])
{
    static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1',
                                     0x43, 0xa1, 0x01, 0x26, 0x40};
    uint8_t head[9];
    molt_cbor_t c;
    molt_hash_ctx_t h;
    size_t n = 0;
    molt_err_t e;

    molt_cbor_init(&c, head, sizeof head);
    molt_cbor_head(&c, MOLT_CBOR_BSTR, plen);
    if ((e = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return e;
    if ((e = molt_hash_update(&h, prefix, sizeof prefix)) != MOLT_OK ||
        (e = molt_hash_update(&h, head, c.len)) != MOLT_OK || (e = molt_hash_update(&h, payload, plen)) != MOLT_OK) {
        molt_hash_abort(&h);
        return e;
    }
    if ((e = molt_hash_finish(&h, digest, 32, &n)) != MOLT_OK)
        return e;
    return n == 32 ? MOLT_OK : MOLT_E_CRYPTO;
}

molt_err_t molt_attest_get_token(const molt_port_t *port, const molt_attest_req_t *req, uint8_t *token,
                                 size_t cap, size_t *len)
{
    claims_t cl;
    molt_cbor_t c;
    size_t plen, poff, total;
    uint8_t digest[32], sig[64];
    molt_err_t e;

    if (port == NULL || req == NULL || len == NULL || (token == NULL && cap != 0))
        return MOLT_E_ARG;
    *len = 0;
    if (req->challenge == NULL ||
        (req->challenge_len != 32 && req->challenge_len != 48 && req->challenge_len != 64))
        return MOLT_E_ATTEST_CHALLENGE;
    if (port->attest_sign == NULL || port->attest_pub == NULL || port->attest_impl_id == NULL ||
        port->attest_boot_seed == NULL)
        return MOLT_E_ATTEST_KEY;
    if (req->client_id == 0 || req->running_slot >= SLOTS)
        return MOLT_E_ARG;

    memset(&cl, 0, sizeof cl);
    cl.req = req;
    cl.port = port;
    if ((e = molt_attest_instance_id(port->attest_pub, cl.ueid)) != MOLT_OK)
        return e == MOLT_E_ARG ? MOLT_E_ATTEST_KEY : e;
    if (port->nv_read == NULL || port->nv_read(port->ctx, MOLT_NV_SECURITY_COUNTER, &cl.counter) != MOLT_OK)
        return MOLT_E_NV;

    /* The running slot first, then the other one if it holds a valid image. */
    for (unsigned k = 0; k < SLOTS; k++) {
        unsigned id = k == 0 ? req->running_slot : 1u - req->running_slot;
        bool found = false;
        comp_t *m = &cl.comp[cl.ncomp];
        if ((e = measure_slot(port, req, id, m, cl.counter, &found)) != MOLT_OK)
            return e;
        if (!found) {
            if (k == 0)
                return MOLT_E_ATTEST_NO_MEASUREMENT;
            continue;
        }
        m->type = k == 0 ? MOLT_ATTEST_TYPE_RUNNING : MOLT_ATTEST_TYPE_INACTIVE;
        cl.ncomp++;
    }

    /* Pass 1: size of the claims. */
    molt_cbor_init(&c, NULL, 0);
    encode_claims(&c, &cl);
    plen = c.len;

    /* Pass 2: the token. */
    molt_cbor_init(&c, token, cap);
    molt_cbor_tag(&c, 18);
    molt_cbor_array(&c, 4);
    molt_cbor_bstr(&c, prot_hdr, sizeof prot_hdr);
    molt_cbor_map(&c, 1);
    molt_cbor_uint(&c, 4); /* kid */
    molt_cbor_bstr(&c, cl.ueid + 1, 32);
    molt_cbor_head(&c, MOLT_CBOR_BSTR, plen);
    poff = c.len;
    encode_claims(&c, &cl);
    molt_cbor_head(&c, MOLT_CBOR_BSTR, sizeof sig);
    memset(sig, 0, sizeof sig);
    molt_cbor_raw(&c, sig, sizeof sig); /* placeholder, signed below */
    if ((e = molt_cbor_finish(&c, &total)) != MOLT_OK) {
        *len = total;
        return e;
    }
    if (c.len - poff - sizeof sig - 2u != plen) /* the two passes must agree */
        return MOLT_E_CRYPTO;

    if ((e = sig_digest(token + poff, plen, digest)) != MOLT_OK)
        return e;
    if (port->attest_sign(port->ctx, digest, sig) != MOLT_OK) {
        memset(token, 0, total);
        return MOLT_E_ATTEST_SIGN;
    }
    memcpy(token + total - sizeof sig, sig, sizeof sig);
    *len = total;
    return MOLT_OK;
}
