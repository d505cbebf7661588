/*
 * molt_host/keyupdate.h - a deployer's view of a device class's key set: replay
 * the key-updates a class has taken, through lib/'s own molt_keyrot_apply on a
 * key-set area held in host memory, and check the next one exactly as a device
 * of the class will (docs/keys.md, "Delivery"). No second parser: every verdict
 * is lib/'s.
 */
#ifndef MOLT_HOST_KEYUPDATE_H
#define MOLT_HOST_KEYUPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "molt/keyrot.h"

/* The outcome of host_keyupdate_replay. */
typedef struct host_keyset {
    molt_err_t err;       /* MOLT_OK, or lib/'s refusal of update `failed` */
    size_t failed;        /* index into kus (n: the candidate) when err != MOLT_OK */
    size_t n;             /* the number of earlier updates given */
    molt_keyset_t set;    /* the set in force after the last update applied */
    molt_key_t ring[MOLT_KEYROT_MAX_FACTORY + MOLT_KEYROT_MAX_ADDED]; /* that set's keyring; der points into der[] */
    uint8_t der[MOLT_KEYROT_MAX_FACTORY + MOLT_KEYROT_MAX_ADDED][MOLT_KEYROT_MAX_DER]; /* copies: out owns them */
    size_t nring;
} host_keyset_t;

/* Apply kus[0..n) (the class's accepted key-updates, in order) and then, when
 * cand is not NULL, cand, to a fresh (genesis) key set over the factory keyring,
 * with the rotation roots and threshold. Returns false only when out of memory;
 * out->err is lib/'s verdict (MOLT_E_KU_*). Not thread-safe with other users of
 * lib/'s crypto backend: the caller serialises. */
bool host_keyupdate_replay(const molt_keyring_t *roots, uint32_t threshold, const molt_keyring_t *factory,
                           const uint8_t *const *kus, const size_t *lens, size_t n, const uint8_t *cand,
                           size_t cand_len, host_keyset_t *out);

#endif
