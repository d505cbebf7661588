/*
 * keystore.c - the port's encryption key store as the verifier sees it
 * (keystore.h): its hooks, and the envelope it holds for an image.
 */
#include "area.h"
#include "keystore.h"

bool molt_port_can_decrypt(const molt_port_t *port)
{
    return port->enc_ecdh != NULL || port->enc_rsa_unwrap != NULL;
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
