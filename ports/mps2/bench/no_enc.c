/*
 * bench/no_enc.c - SIZE PROJECTION ONLY, never run: the decryption entry points that
 * lib/verify.c, lib/boot.c and lib/swap.c call directly, as refusals, so the link
 * (boot-noenc.elf) shows what the boot stage weighs once decryption falls away at
 * link time for a port without a key store. docs/bench.md reports it as a projection.
 */
#include "molt/enc.h"

size_t molt_enc_key_len(uint32_t flags)
{
    (void)flags;
    return 0;
}

size_t molt_enc_tlv_len(uint16_t type, size_t key_len)
{
    (void)type;
    (void)key_len;
    return 0;
}

molt_err_t molt_enc_content_key(const molt_source_t *src, const molt_image_t *img, const molt_decrypt_t *dec,
                                const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX],
                                size_t *key_len)
{
    (void)src;
    (void)img;
    (void)dec;
    (void)digest;
    (void)digest_len;
    (void)key;
    *key_len = 0;
    return MOLT_E_ENC_NO_KEY;
}

molt_err_t molt_ctr_start(molt_ctr_t *c, const uint8_t *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    c->key_id = 0;
    return MOLT_E_ENC_NO_KEY;
}

molt_err_t molt_ctr_xor(molt_ctr_t *c, uint32_t off, uint8_t *buf, size_t len)
{
    (void)c;
    (void)off;
    (void)buf;
    (void)len;
    return MOLT_E_ENC_NO_KEY;
}

void molt_ctr_end(molt_ctr_t *c)
{
    c->key_id = 0;
}

molt_err_t molt_enc_kcv(const uint8_t *key, size_t key_len, uint8_t kcv[MOLT_ENC_KCV_LEN])
{
    (void)key;
    (void)key_len;
    (void)kcv;
    return MOLT_E_ENC_NO_KEY;
}
