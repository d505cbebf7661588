/*
 * molt/keyrot.h - rotation and revocation of the trusted image-signing keys
 * (R-ALLUPDATABLE, R-AUTH; docs/keys.md).
 *
 * The factory key table (molt_port_t.keys) is the genesis of the key set in
 * force. A signed key-update moves the set forward by exactly one step: it
 * adds image-signing keys, retires others (by the SHA-256 of their DER), and
 * names the sequence number the set will have after it. The set in force is
 * kept in an area only the boot code owns, power-fail-safe, and is never
 * rolled back. Every image the boot code and the update API judge is judged
 * against it: an image whose only trusted-looking signer is a retired key is
 * refused with MOLT_E_KEY_RETIRED, whether it is uploaded, staged, installed
 * or waiting in the revert slot.
 *
 * Who may sign a key-update: the deployer's rotation (root) keys, a key set of
 * their own, separate from the image keys, fixed at manufacturing
 * (molt_keyrot_cfg_t.roots), and at least `threshold` distinct ones of them.
 * An image key can never sign a key-update: a leaked image key lets its
 * holder sign images until it is retired, but never retire the deployer's
 * other keys, add its own, or lock the deployer out (docs/keys.md).
 *
 * Key-update, integers little-endian:
 *   0   4  magic "MKU1"
 *   4   4  seq: the sequence number of the key set after this update; must be
 *          exactly the one in force plus one (the genesis is 0)
 *   8   1  n_add (0..MOLT_KEYROT_MAX_ADD)
 *   9   1  n_retire (0..MOLT_KEYROT_MAX_RETIRE); n_add + n_retire >= 1
 *  10   2  reserved, zero
 *  12      n_add times: 2-byte length (1..MOLT_KEYROT_MAX_DER), then the key's
 *          DER exactly as the keyring holds it (SPKI for EC and Ed25519,
 *          PKCS#1 RSAPublicKey for RSA)
 *          n_retire times: 32 bytes, SHA-256 of the retired key's DER
 *   B   1  n_sig (1..MOLT_KEYROT_MAX_SIG); B is the length of the signed body
 *          n_sig times: 1 byte root key index, 64 bytes ECDSA P-256 r || s
 *          over SHA-256 of bytes [0, B)
 * The length is exact: nothing may follow the last signature.
 *
 * The check believes nothing the update says before enough root signatures
 * over it verify; then, in this order: its sequence number, its keys against
 * the set in force, the limits. A refused update changes nothing.
 *
 * Storage (molt_keyrot_cfg_t.area): two halves, each whole sectors. A half
 * holds one record: magic, version, length, seq, the retired hashes and the
 * added keys, CRC-32. The record in force is the valid one with the higher
 * seq; no valid record at all (both halves blank or the first record torn)
 * is the genesis. A new record goes to the half not in force, so a cut at
 * any instant leaves the old or the new set, never an older one.
 */
#ifndef MOLT_KEYROT_H
#define MOLT_KEYROT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/image.h"
#include "molt/port.h"
#include "molt/verify.h"

#define MOLT_KEYROT_MAX_ADD 4u      /* keys one update may add */
#define MOLT_KEYROT_MAX_RETIRE 4u   /* keys one update may retire */
#define MOLT_KEYROT_MAX_SIG 4u      /* signatures on one update */
#define MOLT_KEYROT_MAX_DER 512u    /* longest key DER (RSA-3072 PKCS#1 is 398) */
#define MOLT_KEYROT_MAX_ADDED 4u    /* added keys in force at once */
#define MOLT_KEYROT_MAX_RETIRED 16u /* retired keys remembered (they stay retired) */
#define MOLT_KEYROT_MAX_FACTORY 8u  /* factory keys the set can extend */
#define MOLT_KEYROT_HASH_LEN 32u
#define MOLT_KEYROT_MAGIC "MKU1"

/* A key set, decoded (the RAM form of the record in force). */
typedef struct molt_keyset {
    uint32_t seq;
    uint32_t n_retired, n_added;
    uint8_t retired[MOLT_KEYROT_MAX_RETIRED][MOLT_KEYROT_HASH_LEN];
    uint16_t added_len[MOLT_KEYROT_MAX_ADDED];
    uint8_t added[MOLT_KEYROT_MAX_ADDED][MOLT_KEYROT_MAX_DER];
} molt_keyset_t;

/* RAM the module works in (the port owns it; no heap): the set in force, the
 * keyring built over it, and room for one record. Not shared between two
 * calls running at the same time. */
typedef struct molt_keyrot_ws {
    molt_keyset_t set;
    molt_key_t ring[MOLT_KEYROT_MAX_FACTORY + MOLT_KEYROT_MAX_ADDED];
    uint8_t io[16u + MOLT_KEYROT_MAX_RETIRED * MOLT_KEYROT_HASH_LEN +
               MOLT_KEYROT_MAX_ADDED * (2u + MOLT_KEYROT_MAX_DER) + 4u + 256u /* padding to a write unit */];
} molt_keyrot_ws_t;

/* What a port wires into molt_boot_cfg_t.keyrot. */
typedef struct molt_keyrot_cfg {
    const molt_area_t *area;     /* the key set in force (not reachable by the application) */
    const molt_keyring_t *roots; /* rotation keys (ECDSA P-256), immutable */
    uint32_t threshold;          /* distinct root signatures a key-update needs (>= 1) */
    molt_keyrot_ws_t *ws;        /* working memory */
    /* The keyring in force over the factory table; a port sets
     * molt_keyrot_ring, so that a boot stage without rotation does not link
     * this module. */
    molt_err_t (*ring)(const struct molt_keyrot_cfg *c, const molt_keyring_t *factory, molt_keyring_t *out);
    /* *retired: the image in src names (KEYHASH or PUBKEY TLV) a retired key.
     * A port sets molt_keyrot_names_retired. */
    molt_err_t (*names_retired)(const struct molt_keyrot_cfg *c, const molt_keyring_t *factory,
                                const molt_source_t *src, bool *retired);
} molt_keyrot_cfg_t;

/* Read the set in force into c->ws->set (seq 0, nothing added or retired:
 * the genesis). MOLT_E_LAYOUT when the area cannot hold two halves. */
molt_err_t molt_keyrot_load(const molt_keyrot_cfg_t *c);

/* The keyring in force: the factory keys not retired, then the added keys.
 * *out points into c->ws, valid until the next call on c. */
molt_err_t molt_keyrot_ring(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, molt_keyring_t *out);

/* Whether the image in src names a retired key: a PUBKEY TLV whose SHA-256 is
 * a retired hash, a 32-byte KEYHASH equal to one, or a KEYHASH of another
 * length matching a retired factory key under that hash. */
molt_err_t molt_keyrot_names_retired(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory,
                                     const molt_source_t *src, bool *retired);

/* Check a key-update against the set in force (loaded here) without storing
 * anything. MOLT_OK: c->ws->set holds the set it leads to. Refusals:
 *   MOLT_E_KU_FORMAT    malformed: length, magic, counts, reserved bytes,
 *                       a key DER that does not parse, a key named twice
 *   MOLT_E_KU_SIG       fewer than threshold distinct root keys signed it
 *                       (forged, altered, signed by an image key)
 *   MOLT_E_KU_REPLAY    its seq is the one in force (already applied)
 *   MOLT_E_KU_ROLLBACK  its seq is older than the one in force
 *   MOLT_E_KU_GAP       its seq skips one: apply the missing update first
 *   MOLT_E_KU_KEY       adds a key already trusted or once retired, or
 *                       retires a key that is not in force
 *   MOLT_E_KU_LOCKOUT   no image key would be left
 *   MOLT_E_KU_FULL      the set would exceed the limits above */
molt_err_t molt_keyrot_check(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, const uint8_t *ku,
                             size_t len);

/* Check a key-update and make the set it leads to the set in force. Only the
 * boot code (or the update service on its behalf) calls this; the area must
 * not be writable by the application. After a power cut the set in force is
 * the old or the new one.
 * running (may be NULL: no such check): the image the device runs (installed
 * role). When it would not verify under the new set -- the update retires its
 * only signer -- the update is refused with MOLT_E_KU_STRANDS and nothing is
 * stored: the next boot would otherwise refuse the device's own image. Deploy
 * an image signed by a key in force after the update first (docs/keys.md). */
molt_err_t molt_keyrot_apply(const molt_keyrot_cfg_t *c, const molt_keyring_t *factory, const uint8_t *ku,
                             size_t len, const molt_source_t *running);

/* SHA-256 of a key's DER (the retire name of a key). */
molt_err_t molt_keyrot_key_id(const uint8_t *der, size_t len, uint8_t out[MOLT_KEYROT_HASH_LEN]);

#endif
