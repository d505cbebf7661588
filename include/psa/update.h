/*
 * psa/update.h - the PSA Certified Firmware Update API 1.0 (IHI 0093), as molt
 * implements it on top of its boot code (include/molt/fwu.h has the details).
 *
 * Names, types, state values, flags and status codes are the specification's.
 * The common status codes are defined exactly as psa/error.h (and Mbed TLS's
 * psa/crypto_values.h) define them - the same token sequences - and
 * psa_status_t is only typedef'd when PSA_SUCCESS is not yet defined, which is
 * the convention Mbed TLS follows too: a translation unit may include this
 * header and <psa/crypto.h> in either order.
 *
 * Variant (spec appendix C) chosen by molt: reboot needed for installation
 * (install returns PSA_SUCCESS_REBOOT, STAGED exists), trial supported (TRIAL,
 * REJECTED, accept), non-volatile staging (PSA_FWU_FLAG_VOLATILE_STAGING is
 * clear: WRITING, CANDIDATE, FAILED and UPDATED survive a reset).
 */
#ifndef PSA_UPDATE_H
#define PSA_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- status codes (psa/error.h-compatible) ------------------------------------ */
#ifndef PSA_SUCCESS
typedef int32_t psa_status_t;
#endif
/* *INDENT-OFF* - token sequences must match psa/error.h exactly. */
#define PSA_SUCCESS ((psa_status_t)0)
#define PSA_ERROR_GENERIC_ERROR         ((psa_status_t)-132)
#define PSA_ERROR_NOT_PERMITTED         ((psa_status_t)-133)
#define PSA_ERROR_NOT_SUPPORTED         ((psa_status_t)-134)
#define PSA_ERROR_INVALID_ARGUMENT      ((psa_status_t)-135)
#define PSA_ERROR_BAD_STATE             ((psa_status_t)-137)
#define PSA_ERROR_DOES_NOT_EXIST        ((psa_status_t)-140)
#define PSA_ERROR_INSUFFICIENT_MEMORY   ((psa_status_t)-141)
#define PSA_ERROR_INSUFFICIENT_STORAGE  ((psa_status_t)-142)
#define PSA_ERROR_COMMUNICATION_FAILURE ((psa_status_t)-145)
#define PSA_ERROR_STORAGE_FAILURE       ((psa_status_t)-146)
#define PSA_ERROR_INVALID_SIGNATURE     ((psa_status_t)-149)

/* Status codes specific to the Firmware Update API. */
#define PSA_ERROR_DEPENDENCY_NEEDED     ((psa_status_t)-156)
#define PSA_ERROR_FLASH_ABUSE           ((psa_status_t)-160)
#define PSA_ERROR_INSUFFICIENT_POWER    ((psa_status_t)-161)
#define PSA_SUCCESS_REBOOT              ((psa_status_t)+1)
#define PSA_SUCCESS_RESTART             ((psa_status_t)+2)
/* *INDENT-ON* */

/* --- API version ------------------------------------------------------------- */
#define PSA_FWU_API_VERSION_MAJOR 1
#define PSA_FWU_API_VERSION_MINOR 0

/* --- limits -------------------------------------------------------------------- */
/* molt accepts any image_offset alignment (a partial flash write unit is kept in
 * RAM until it is complete, or padded by finish), so the alignment is 1 byte. */
#ifndef PSA_FWU_LOG2_WRITE_ALIGN
#define PSA_FWU_LOG2_WRITE_ALIGN 0
#endif
#define PSA_FWU_WRITE_ALIGN (1u << PSA_FWU_LOG2_WRITE_ALIGN)
/* Largest block one psa_fwu_write() takes (TF-M's default). */
#ifndef PSA_FWU_MAX_WRITE_SIZE
#define PSA_FWU_MAX_WRITE_SIZE 1024u
#endif

/* --- types ----------------------------------------------------------------------- */
typedef uint8_t psa_fwu_component_t;

typedef struct psa_fwu_image_version_t {
    uint8_t major;
    uint8_t minor;
    uint16_t patch;
    uint32_t build;
} psa_fwu_image_version_t;

/* Implementation-defined part of the component information (molt's). */
typedef struct psa_fwu_impl_info_t {
    uint32_t written;    /* WRITING: where the next psa_fwu_write() must start - the
                            bytes accepted so far; after a reset, the bytes safely
                            written (the last checkpoint). 0 in other states. */
    uint32_t image_size; /* declared image size (header + payload + TLVs), known once
                            the unprotected TLV info has been written; else 0 */
    uint32_t checkpoint; /* bytes between two progress checkpoints */
} psa_fwu_impl_info_t;

typedef struct psa_fwu_component_info_t {
    uint8_t state;                   /* PSA_FWU_READY ... PSA_FWU_UPDATED */
    psa_status_t error;              /* FAILED/REJECTED: why (molt: a molt_err_t, or
                                        the value given to psa_fwu_reject) */
    psa_fwu_image_version_t version; /* of the active image */
    uint32_t max_size;               /* largest image accepted, bytes */
    uint32_t flags;                  /* PSA_FWU_FLAG_* */
    uint32_t location;               /* implementation-defined: 0 */
    psa_fwu_impl_info_t impl;
} psa_fwu_component_info_t;

/* --- component states -------------------------------------------------------------- */
#define PSA_FWU_READY     0u
#define PSA_FWU_WRITING   1u
#define PSA_FWU_CANDIDATE 2u
#define PSA_FWU_STAGED    3u
#define PSA_FWU_FAILED    4u
#define PSA_FWU_TRIAL     5u
#define PSA_FWU_REJECTED  6u
#define PSA_FWU_UPDATED   7u

/* --- component flags ------------------------------------------------------------- */
#define PSA_FWU_FLAG_VOLATILE_STAGING 0x00000001u
#define PSA_FWU_FLAG_ENCRYPTION       0x00000002u

/* --- functions ------------------------------------------------------------------- */
psa_status_t psa_fwu_query(psa_fwu_component_t component, psa_fwu_component_info_t *info);
psa_status_t psa_fwu_start(psa_fwu_component_t component, const void *manifest, size_t manifest_size);
psa_status_t psa_fwu_write(psa_fwu_component_t component, size_t image_offset, const void *block,
                           size_t block_size);
psa_status_t psa_fwu_finish(psa_fwu_component_t component);
psa_status_t psa_fwu_cancel(psa_fwu_component_t component);
psa_status_t psa_fwu_clean(psa_fwu_component_t component);
psa_status_t psa_fwu_install(void);
psa_status_t psa_fwu_request_reboot(void);
psa_status_t psa_fwu_reject(psa_status_t error);
psa_status_t psa_fwu_accept(void);

#ifdef __cplusplus
}
#endif

#endif
