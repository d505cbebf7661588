/*
 * judge.h - internal: the one policy every image is judged by.
 *
 * The boot code (activation, revert, the image that runs), the update API
 * (psa_fwu_finish) and attestation all judge an image here, so they cannot
 * disagree: the counter floor, the downgrade floor, decryption through the
 * port's key store (and its envelope for this image), the encryption
 * requirement, the image's DEPENDENCY TLVs, and (when the port wires key
 * rotation) the key set in force, so a retired key's image is refused
 * wherever it is judged. molt_verify() does the
 * cryptography; this file decides what it is asked.
 */
#ifndef MOLT_LIB_JUDGE_H
#define MOLT_LIB_JUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "molt/boot.h"
#include "molt/verify.h"

typedef struct molt_judge_in {
    molt_role_t role;
    uint32_t min_cnt;                /* the stored security counter */
    const molt_version_t *min_ver;   /* downgrade floor, or NULL */
    bool require_encryption;         /* PSA_FWU_FLAG_ENCRYPTION */
    const molt_deps_t *deps;         /* NULL: single-image port */
    const uint8_t *digest;           /* optional streamed SHA-256 of the hashed region */
    const struct molt_keyrot_cfg *keyrot; /* NULL: the factory keys; else the key set in force */
    uint8_t stage;                   /* MOLT_STAGE_*: the boot stage the image must be for */
} molt_judge_in_t;

/* The boot stage an image is for (its MOLT_TLV_BOOT_STAGE, 0 when absent)
 * must be stage: MOLT_OK or MOLT_E_BOOT_STAGE (TLV_LENGTH / TLV_DUPLICATE for
 * a malformed mark). */
molt_err_t molt_judge_stage(const molt_source_t *src, const molt_image_t *img, uint8_t stage);

/* Judge the image in src (bounded to limit bytes when limit != 0). */
molt_err_t molt_judge(const molt_port_t *port, const molt_source_t *src, const molt_judge_in_t *in,
                      molt_verify_result_t *vr);

/* Judge the image at base of area id, which must end before the area's
 * trailer sector. */
molt_err_t molt_judge_slot(const molt_port_t *port, unsigned id, uint32_t base, const molt_judge_in_t *in,
                           molt_verify_result_t *vr);

/* The DEPENDENCY TLVs of a parsed image against deps (NULL: single image). */
molt_err_t molt_judge_deps(const molt_source_t *src, const molt_image_t *img, const molt_deps_t *deps);

#endif
