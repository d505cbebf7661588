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
#define MBEDTLS_PSA_KEY_SLOT_COUNT 2
#define MBEDTLS_PSA_STATIC_KEY_SLOT_BUFFER_SIZE 72 /* 65-byte P-256 public key; 32-byte AES key */
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES

#endif
