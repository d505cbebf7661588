/*
 * enc_ops.h - internal: the decryption table behind molt_port_t.enc_ops and
 * molt_verify_with() (molt/enc.h). Every step of decryption the boot code, the
 * verifier and the update API take goes through these pointers, so a link that
 * never names molt_enc_ops (lib/enc_ops.c) drops all of it.
 */
#ifndef MOLT_LIB_ENC_OPS_H
#define MOLT_LIB_ENC_OPS_H

#include "molt/enc.h"
#include "molt/port.h"
#include "swap.h"

/* The keystreams of one swap run: out for the image leaving PRIMARY
 * (re-encrypted), in for the one entering it (decrypted); cx points at them. */
typedef struct molt_swap_keys {
    molt_ctr_t out, in;
    molt_swap_crypt_t cx;
} molt_swap_keys_t;

struct molt_enc_ops {
    /* lib/enc.c */
    molt_err_t (*content_key)(const molt_source_t *src, const molt_image_t *img, const molt_decrypt_t *dec,
                              const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                              size_t *key_len);
    molt_err_t (*kcv)(const uint8_t *key, size_t key_len, uint8_t kcv[MOLT_ENC_KCV_LEN]);
    molt_err_t (*ctr_start)(molt_ctr_t *c, const uint8_t *key, size_t key_len);
    molt_err_t (*ctr_xor)(molt_ctr_t *c, uint32_t off, uint8_t *buf, size_t len);
    void (*ctr_end)(molt_ctr_t *c);
    /* lib/keystore.c: the port's key store for one image; content key + check value */
    void (*port_decrypt)(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                         size_t *dlen);
    molt_err_t (*decrypt_key)(const molt_enc_ops_t *ops, const molt_source_t *src, const molt_image_t *img,
                              const molt_decrypt_t *dec, const uint8_t *digest, size_t digest_len,
                              uint8_t key[MOLT_ENC_KEY_MAX], size_t *key_len, uint8_t kcv[MOLT_ENC_KCV_LEN]);
    /* lib/swap.c: a copy through the keystream */
    molt_err_t (*copy_ctr)(const molt_area_t *dst, uint32_t doff, const molt_area_t *src, uint32_t soff,
                           uint32_t len, const molt_enc_ops_t *ops, molt_ctr_t *ctr, uint32_t ioff, uint32_t start,
                           uint32_t end);
    /* lib/boot_swap_enc.c: the keys of a swap run from step k, proven against the
     * record's check values; swap_keys_end closes them */
    molt_err_t (*swap_keys)(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, const molt_bootrec_t *r,
                            molt_swap_keys_t *ks);
    void (*swap_keys_end)(molt_swap_keys_t *ks);
};

/* lib/boot_swap_enc.c (reached only through molt_enc_ops) */
molt_err_t molt_swap_keys(const molt_port_t *port, const molt_swap_plan_t *plan, uint32_t k, const molt_bootrec_t *r,
                          molt_swap_keys_t *ks);
void molt_swap_keys_end(molt_swap_keys_t *ks);

#endif
