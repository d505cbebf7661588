/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "pem.h"
#include "slurp.h"

bool harness_add_pem(sim_keystore_t *ks, const char *dir, const char *name)
{
    size_t len = 0, dlen = 0;
    uint8_t *pem = slurp(dir, name, &len);
    char *z = pem ? realloc(pem, len + 1) : NULL;
    if (!z) {
        free(pem);
        return false;
    }
    z[len] = '\0';
    uint8_t *der = pem_to_der(z, &dlen);
    bool ok = der && sim_keystore_add_pkcs8(ks, der, dlen) == MOLT_OK;
    free(der);
    free(z);
    return ok;
}

uint8_t *harness_installed(const uint8_t *img, size_t len, sim_keystore_t *ks)
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_ctr_t c;
    uint8_t key[32];
    size_t klen = 0;
    uint8_t *out = malloc(len);
    if (!out)
        return NULL;
    memcpy(out, img, len);
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    if (molt_image_parse(&src, &im) != MOLT_OK || molt_enc_content_key(&src, &im, &dec, NULL, 0, key, &klen) != MOLT_OK ||
        molt_ctr_start(&c, key, klen) != MOLT_OK || molt_ctr_xor(&c, 0, out + im.payload_off, im.img_size) != MOLT_OK) {
        free(out);
        return NULL;
    }
    molt_ctr_end(&c);
    return out;
}

molt_err_t harness_content_key(const uint8_t *img, size_t len, const molt_decrypt_t *dec, uint8_t key[32],
                               size_t *klen, uint8_t digest[64], size_t *dlen)
{
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    molt_err_t err = molt_image_parse(&src, &im);
    if (err != MOLT_OK)
        return err;
    *dlen = 0;
    molt_tlv_iter_init(&it, &src, &im);
    while (molt_tlv_next(&it, &t, &more) == MOLT_OK && more)
        if (!t.prot && t.type >= MOLT_TLV_SHA256 && t.type <= MOLT_TLV_SHA512 &&
            molt_tlv_read(&src, &t, digest, 64) == MOLT_OK)
            *dlen = t.len;
    return molt_enc_content_key(&src, &im, dec, digest, *dlen, key, klen);
}

int harness_split(char *line, char **cols, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        cols[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}
