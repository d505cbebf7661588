/*
 * mps2_mbedtls_config.h - the Mbed TLS 3.6 build of the mps2 port's boot stage and sample application.
 *
 * Minimal: PSA Crypto only, SHA-256 and ECDSA-P256 verification through the p256-m driver,
 * key slots in static memory, no heap, no entropy source (verification needs none; see
 * mbedtls_psa_external_get_random in ports/mps2/port.c). Selected with
 * -DMBEDTLS_CONFIG_FILE='"mps2_mbedtls_config.h"' -DMBEDTLS_PSA_CRYPTO_CONFIG_FILE='"mps2_crypto_config.h"'.
 * CRYPTO=enc (-DMOLT_MPS2_CRYPTO_ENC) adds the algorithms of encrypted images.
 */
#ifndef MOLT_MPS2_MBEDTLS_CONFIG_H
#define MOLT_MPS2_MBEDTLS_CONFIG_H

#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_CRYPTO_CONFIG            /* algorithms chosen by PSA_WANT_* (crypto_config.h) */
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG      /* the port supplies mbedtls_psa_external_get_random */
#define MBEDTLS_PSA_P256M_DRIVER_ENABLED     /* ECDSA/ECDH P-256 by p256-m: no bignum, no ECP */
#define MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS /* one caller, buffers not shared across a boundary */
#define MBEDTLS_PSA_STATIC_KEY_SLOTS         /* key slots in .bss: no calloc */
#ifdef MOLT_MPS2_CRYPTO_ENC
#define MBEDTLS_PSA_KEY_SLOT_COUNT 4 /* + the device key, two AES-CTR keys during a swap */
#else
#define MBEDTLS_PSA_KEY_SLOT_COUNT 2 /* the trusted public key being checked */
#endif
#define MBEDTLS_PSA_STATIC_KEY_SLOT_BUFFER_SIZE 72 /* 65-byte P-256 public key; 32-byte AES key */
#ifndef MPS2_SHA_FAST
#define MBEDTLS_SHA256_SMALLER /* SHA=fast (-DMPS2_SHA_FAST) unrolls it: faster, larger */
#endif
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
/* MBEDTLS_BLOCK_CIPHER_NO_DECRYPT would drop AES decryption, but Mbed TLS refuses it with
 * PSA_WANT_ALG_ECB_NO_PADDING, which lib/enc.c's AES-CTR (built on ECB) needs. */

#endif
