/*
 * keystore.c - the port's encryption key store as the verifier sees it
 * (keystore.h): its hooks, and the envelope it holds for an image.
 */
#include "area.h"
#include "crypto.h"
#include "enc_ops.h"
#include "keystore.h"

bool molt_port_can_decrypt(const molt_port_t *port)
{
    /* Key-store hooks without the decryption code (enc_ops) cannot decrypt:
     * encrypted uploads are then refused, never taken as plaintext. */
    return port->enc_ops != NULL && (port->enc_ecdh != NULL || port->enc_rsa_unwrap != NULL);
}

void molt_port_decrypt(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                       size_t *dlen)
{
    molt_image_t img;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;

    *dec = (molt_decrypt_t){port->enc_ecdh, port->ctx, NULL, 0, port->enc_rsa_unwrap};
    *dlen = 0;
    if (port->enc_envelope == NULL || molt_image_parse(src, &img) != MOLT_OK)
        return;
    molt_tlv_iter_init(&it, src, &img);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more) {
        if (!t.prot && t.type >= MOLT_TLV_SHA256 && t.type <= MOLT_TLV_SHA512 && t.len <= 64 &&
            molt_tlv_read(src, &t, digest, 64) == MOLT_OK) {
            *dlen = t.len;
            break;
        }
    }
    if (*dlen > 0 && port->enc_envelope(port->ctx, digest, *dlen, &dec->envelope, &dec->envelope_len) != MOLT_OK) {
        dec->envelope = NULL;
        dec->envelope_len = 0;
    }
}

molt_err_t molt_decrypt_key(const molt_enc_ops_t *ops, const molt_source_t *src, const molt_image_t *img,
                            const molt_decrypt_t *dec, const uint8_t *digest, size_t digest_len,
                            uint8_t key[MOLT_ENC_KEY_MAX], size_t *key_len, uint8_t kcv[MOLT_ENC_KCV_LEN])
{
    molt_err_t err;

    *key_len = 0;
    if (ops == NULL || dec == NULL)
        return MOLT_E_ENC_NO_KEY;
    err = ops->content_key(src, img, dec, digest, digest_len, key, key_len);
    if (err == MOLT_OK)
        err = ops->kcv(key, *key_len, kcv);
    if (err != MOLT_OK)
        molt_wipe(key, MOLT_ENC_KEY_MAX);
    return err;
}
