/*
 * error.c - names and phrases for molt_err_t (see molt/error.h).
 */
#include "molt/error.h"

#include <stddef.h>

typedef struct {
    molt_err_t err;
    const char *name;
    const char *str;
} err_entry_t;

static const err_entry_t errors[] = {
    {MOLT_OK, "OK", "ok"},
    {MOLT_E_ARG, "ARG", "invalid argument"},
    {MOLT_E_IO, "IO", "read error"},
    {MOLT_E_CRYPTO, "CRYPTO", "crypto backend failure"},
    {MOLT_E_BUFFER, "BUFFER", "buffer too small"},
    {MOLT_E_TRUNCATED, "TRUNCATED", "shorter than an image header"},
    {MOLT_E_MAGIC, "MAGIC", "bad image magic"},
    {MOLT_E_HDR_SIZE, "HDR_SIZE", "header size below 32 bytes"},
    {MOLT_E_BOUNDS, "BOUNDS", "header sizes point past the end of the image"},
    {MOLT_E_TLV_INFO, "TLV_INFO", "TLV area missing or with a bad magic"},
    {MOLT_E_PROT_SIZE, "PROT_SIZE", "protected TLV size disagrees with the header"},
    {MOLT_E_TLV_OVERRUN, "TLV_OVERRUN", "TLV runs past the end of its area"},
    {MOLT_E_TLV_NOT_ALLOWED, "TLV_NOT_ALLOWED", "TLV type not allowed outside the protected area"},
    {MOLT_E_TLV_MISPLACED, "TLV_MISPLACED", "hash, key or signature TLV inside the protected area"},
    {MOLT_E_TLV_LENGTH, "TLV_LENGTH", "TLV has the wrong length"},
    {MOLT_E_TLV_DUPLICATE, "TLV_DUPLICATE", "TLV that may appear once appears twice"},
    {MOLT_E_FLAGS, "FLAGS", "unsupported or contradictory header flags"},
    {MOLT_E_HASH_MISSING, "HASH_MISSING", "no hash TLV"},
    {MOLT_E_HASH_ALG, "HASH_ALG", "hash algorithm not allowed"},
    {MOLT_E_HASH_MISMATCH, "HASH_MISMATCH", "hash does not match the image"},
    {MOLT_E_NO_SIGNATURE, "NO_SIGNATURE", "no signature (a signature is required)"},
    {MOLT_E_SIG_NO_KEY, "SIG_NO_KEY", "signature TLV not preceded by its key TLV"},
    {MOLT_E_KEY_UNTRUSTED, "KEY_UNTRUSTED", "signed by a key that is not trusted"},
    {MOLT_E_SIG_INVALID, "SIG_INVALID", "signature does not verify"},
    {MOLT_E_SIG_ALG, "SIG_ALG", "signature algorithm not allowed for this key"},
    {MOLT_E_SIG_FORMAT, "SIG_FORMAT", "malformed signature"},
    {MOLT_E_KEY_FORMAT, "KEY_FORMAT", "trusted key cannot be parsed"},
    {MOLT_E_ENC_NO_KEY, "ENC_NO_KEY", "encrypted image: no decryption key configured"},
    {MOLT_E_ENC_TLV, "ENC_TLV", "encrypted image: key TLV missing or of the wrong size"},
    {MOLT_E_ENC_UNWRAP, "ENC_UNWRAP", "encrypted image: content key does not unwrap with this device's key"},
    {MOLT_E_ENC_ALG, "ENC_ALG", "encrypted image: the device has no key for its key-encryption scheme"},
    {MOLT_E_ENV_FORMAT, "ENV_FORMAT", "key envelope malformed"},
    {MOLT_E_ENV_IMAGE, "ENV_IMAGE", "key envelope made for another image"},
    {MOLT_E_ENV_AUTH, "ENV_AUTH", "key envelope does not open with this device's key"},
    {MOLT_E_ENC_REQUIRED, "ENC_REQUIRED", "unencrypted image where encryption is required"},
    {MOLT_E_ROLLBACK, "ROLLBACK", "security counter below the device's"},
    {MOLT_E_DOWNGRADE, "DOWNGRADE", "version below the running image's"},
    {MOLT_E_TOO_LARGE, "TOO_LARGE", "image larger than the slot"},
    {MOLT_E_DEP_UNSUPPORTED, "DEP_UNSUPPORTED", "image depends on another image; this device has one"},
    {MOLT_E_DEPENDENCY, "DEPENDENCY", "a dependency on another image's version is not met"},
    {MOLT_E_NO_IMAGE, "NO_IMAGE", "no verified image to run: secure state"},
    {MOLT_E_FLASH, "FLASH", "flash write or erase failed"},
    {MOLT_E_NV, "NV", "NV counter storage failed"},
    {MOLT_E_LAYOUT, "LAYOUT", "flash layout unusable"},
    {MOLT_E_STATE, "STATE", "not valid in the current state"},
    {MOLT_E_REVERT_LOST, "REVERT_LOST", "the image to revert to is missing or not the recorded one"},
    {MOLT_E_FWU_CANCELLED, "FWU_CANCELLED", "download cancelled"},
    {MOLT_E_FWU_REVERTED, "FWU_REVERTED", "trial not accepted: previous image restored"},
    {MOLT_E_FWU_RECORD, "FWU_RECORD", "update record damaged by a power cut"},
    {MOLT_E_FWU_INCOMPLETE, "FWU_INCOMPLETE", "image not completely written"},
    {MOLT_E_ATTEST_CHALLENGE, "ATTEST_CHALLENGE", "attestation challenge is not 32, 48 or 64 bytes"},
    {MOLT_E_ATTEST_KEY, "ATTEST_KEY", "no attestation key in this port"},
    {MOLT_E_ATTEST_NO_MEASUREMENT, "ATTEST_NO_MEASUREMENT", "no valid image to report in the token"},
    {MOLT_E_ATTEST_SIGN, "ATTEST_SIGN", "the attestation key store failed to sign"},
    {MOLT_E_STORE_FULL, "STORE_FULL", "record store full"},
    {MOLT_E_STORE_NOT_FOUND, "STORE_NOT_FOUND", "no such record"},
    {MOLT_E_KEEP_SCHEMA, "KEEP_SCHEMA", "image cannot migrate the device's data schema"},
    {MOLT_E_KEEP_PHASE, "KEEP_PHASE", "not valid in this phase of the data-preserving upgrade"},
    {MOLT_E_KEEP_IMAGE, "KEEP_IMAGE", "running image is neither side of the recorded upgrade"},
    {MOLT_E_KEEP_RESTORE, "KEEP_RESTORE", "the application could not migrate its data"},
    {MOLT_E_KEEP_SAVE, "KEEP_SAVE", "the application could not save its data"},
    {MOLT_E_AWDT_FORMAT, "AWDT_FORMAT", "not a deferral ticket"},
    {MOLT_E_AWDT_SIG, "AWDT_SIG", "deferral ticket not signed by a ticket key"},
    {MOLT_E_AWDT_DEVICE, "AWDT_DEVICE", "deferral ticket issued for another device"},
    {MOLT_E_AWDT_NONCE, "AWDT_NONCE", "deferral ticket answers no outstanding nonce"},
    {MOLT_E_AWDT_EXPIRED, "AWDT_EXPIRED", "deferral ticket's nonce has expired"},
    {MOLT_E_AWDT_TOO_LONG, "AWDT_TOO_LONG", "deferral ticket extends too far"},
    {MOLT_E_KEY_RETIRED, "KEY_RETIRED", "signed by a retired key"},
    {MOLT_E_KU_FORMAT, "KU_FORMAT", "not a well-formed key-update"},
    {MOLT_E_KU_SIG, "KU_SIG", "key-update not signed by enough rotation keys"},
    {MOLT_E_KU_REPLAY, "KU_REPLAY", "key-update already applied"},
    {MOLT_E_KU_ROLLBACK, "KU_ROLLBACK", "key-update older than the key set in force"},
    {MOLT_E_KU_GAP, "KU_GAP", "key-update skips a sequence number"},
    {MOLT_E_KU_KEY, "KU_KEY", "key-update names a key wrongly for the set in force"},
    {MOLT_E_KU_LOCKOUT, "KU_LOCKOUT", "key-update would leave no image key"},
    {MOLT_E_KU_FULL, "KU_FULL", "key set would exceed the device's limits"},
    {MOLT_E_KU_STRANDS, "KU_STRANDS", "key-update would leave the running image without a trusted signer"},
    {MOLT_E_BOOT_STAGE, "BOOT_STAGE", "image is for another boot stage"},
};

static const err_entry_t *lookup(molt_err_t err)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].err == err)
            return &errors[i];
    return NULL;
}

const char *molt_err_str(molt_err_t err)
{
    const err_entry_t *e = lookup(err);
    return e ? e->str : "unknown error";
}

const char *molt_err_name(molt_err_t err)
{
    const err_entry_t *e = lookup(err);
    return e ? e->name : "UNKNOWN";
}
