/*
 * keyupdate.c - replay a class's key-updates through lib/'s molt_keyrot_apply
 * on a key-set area in host memory (molt_host/keyupdate.h).
 */
#include <stdlib.h>
#include <string.h>

#include "molt_host/keyupdate.h"

#define KA_SEC 4096u
#define KA_SIZE (4u * KA_SEC) /* two halves of two sectors: as the sim's key-set area */

static molt_err_t ka_read(void *c, uint32_t off, void *buf, size_t n)
{
    if (off > KA_SIZE || n > KA_SIZE - off)
        return MOLT_E_IO;
    memcpy(buf, (uint8_t *)c + off, n);
    return MOLT_OK;
}
static molt_err_t ka_write(void *c, uint32_t off, const void *buf, size_t n)
{
    if (off > KA_SIZE || n > KA_SIZE - off)
        return MOLT_E_FLASH;
    memcpy((uint8_t *)c + off, buf, n);
    return MOLT_OK;
}
static molt_err_t ka_erase(void *c, uint32_t off, uint32_t n)
{
    if (off > KA_SIZE || n > KA_SIZE - off)
        return MOLT_E_FLASH;
    memset((uint8_t *)c + off, 0xff, n);
    return MOLT_OK;
}
static molt_err_t ka_sector(void *c, uint32_t off, molt_sector_t *s)
{
    (void)c;
    s->off = off - off % KA_SEC;
    s->size = KA_SEC;
    return MOLT_OK;
}

bool host_keyupdate_replay(const molt_keyring_t *roots, uint32_t threshold, const molt_keyring_t *factory,
                           const uint8_t *const *kus, const size_t *lens, size_t n, const uint8_t *cand,
                           size_t cand_len, host_keyset_t *out)
{
    uint8_t *mem = malloc(KA_SIZE);
    molt_keyrot_ws_t *ws = malloc(sizeof *ws);
    if (!mem || !ws) {
        free(mem);
        free(ws);
        return false;
    }
    memset(mem, 0xff, KA_SIZE);
    memset(out, 0, sizeof *out);
    molt_area_t area = {KA_SIZE, 8, 0xff, ka_read, ka_write, ka_erase, ka_sector, mem};
    molt_keyrot_cfg_t c = {&area, roots, threshold, ws, molt_keyrot_ring, molt_keyrot_names_retired};
    molt_err_t e = molt_keyrot_load(&c);
    size_t i = 0;
    for (; e == MOLT_OK && i <= n; i++) {
        if (i == n && !cand)
            break;
        e = molt_keyrot_apply(&c, factory, i < n ? kus[i] : cand, i < n ? lens[i] : cand_len, NULL);
    }
    out->err = e;
    out->n = n;
    out->failed = e == MOLT_OK ? 0 : i - 1;
    /* the set in force after the updates that applied (a refusal changes nothing) */
    if (molt_keyrot_load(&c) == MOLT_OK) {
        out->set = ws->set;
        molt_keyring_t ring;
        if (molt_keyrot_ring(&c, factory, &ring) == MOLT_OK) {
            out->nring = ring.count;
            for (size_t k = 0; k < ring.count && k < sizeof out->der / sizeof *out->der; k++) {
                size_t len = ring.keys[k].der_len <= MOLT_KEYROT_MAX_DER ? ring.keys[k].der_len : 0;
                memcpy(out->der[k], ring.keys[k].der, len);
                out->ring[k] = (molt_key_t){out->der[k], len};
            }
        }
    }
    free(mem);
    free(ws);
    return true;
}
