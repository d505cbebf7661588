/*
 * enc_port.c - the device's decryption key store for encrypted images (CRYPTO=enc builds).
 *
 * The device's P-256 private key sits in the protected area's key sector at
 * DEVKEY_OFF ("MDK1" | 32-byte scalar | CRC-32), written at provisioning
 * (mkflash.py --device-key). enc_ecdh() imports it into a volatile PSA key only for
 * the agreement (p256-m ECDH), then destroys it: libmolt and the application never
 * see the scalar (R-ASSETS within what this QEMU port can isolate; docs/porting.md).
 */
#include <stddef.h>

#include <psa/crypto.h>

#include "board.h"
#include "enc_port.h"
#include "flash.h"
#include "molt/image.h"
#include "protarea.h"

#define DEVKEY_MAGIC 0x314b444du /* "MDK1" */

molt_err_t mps2_enc_ecdh(void *ctx, uint16_t tlv_type, const uint8_t *peer_pub, size_t len, uint8_t shared[32])
{
    const uint8_t *k = flash_ptr(KEYS_OFF + DEVKEY_OFF);
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = 0;
    size_t olen = 0;
    psa_status_t st;

    (void)ctx;
    if (tlv_type != MOLT_TLV_ENC_EC256 || molt_le32(k) != DEVKEY_MAGIC || molt_le32(k + 36) != pa_crc32(k, 36))
        return MOLT_E_ENC_ALG;
    if (len != 65)
        return MOLT_E_ENC_UNWRAP;
    psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
    psa_set_key_bits(&attr, 256);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
    if (psa_crypto_init() != PSA_SUCCESS || psa_import_key(&attr, k + 4, 32, &id) != PSA_SUCCESS)
        return MOLT_E_ENC_ALG;
    st = psa_raw_key_agreement(PSA_ALG_ECDH, id, peer_pub, len, shared, 32, &olen);
    (void)psa_destroy_key(id);
    return st == PSA_SUCCESS && olen == 32 ? MOLT_OK : MOLT_E_ENC_UNWRAP;
}

/* Mbed TLS 3.6 allocates in the decryption path (psa_crypto.c keeps an HKDF input in a
 * calloc'd buffer): newlib-nano's malloc gets this fixed heap, and its high-water mark
 * is what docs/bench.md reports as the heap of the + decryption configuration. */
static uint8_t g_heap[2048] __attribute__((aligned(8)));
static size_t g_brk;

/* used: only newlib's _sbrk_r (not LTO code) calls it, which the LTO plugin cannot see. */
__attribute__((used)) void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr)
{
    if (incr < 0 || (size_t)incr > sizeof g_heap - g_brk)
        return (void *)-1;
    void *p = g_heap + g_brk;
    g_brk += (size_t)incr;
    return p;
}

size_t mps2_heap_peak(void)
{
    return g_brk;
}
