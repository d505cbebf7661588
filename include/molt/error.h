/*
 * molt/error.h - the one error type of the device library.
 *
 * Every public function of libmolt returns a molt_err_t. MOLT_OK is zero; every
 * other value names one specific reason, so a caller (and a test) can tell *why*
 * an image was refused, not only that it was. molt_err_str() gives a short,
 * stable English phrase for logs and the CLI; it never allocates.
 *
 * The numeric values are part of the ABI: never renumber, only append.
 */
#ifndef MOLT_ERROR_H
#define MOLT_ERROR_H

typedef enum molt_err {
    MOLT_OK = 0,

    /* Caller and environment (not a verdict on the image). */
    MOLT_E_ARG = 1,            /* bad argument from the caller */
    MOLT_E_IO = 2,             /* the source could not be read */
    MOLT_E_CRYPTO = 3,         /* crypto backend failed (not a bad signature) */
    MOLT_E_BUFFER = 4,         /* caller's buffer too small */

    /* Structure of the image (reason class "structure"). */
    MOLT_E_TRUNCATED = 10,     /* shorter than the 32-byte header */
    MOLT_E_MAGIC = 11,         /* header magic is not 0x96f3b83d */
    MOLT_E_HDR_SIZE = 12,      /* ih_hdr_size below 32 */
    MOLT_E_BOUNDS = 13,        /* header fields point past the end or wrap */
    MOLT_E_TLV_INFO = 14,      /* TLV info header missing or with a bad magic */
    MOLT_E_PROT_SIZE = 15,     /* ih_protect_tlv_size disagrees with the area */
    MOLT_E_TLV_OVERRUN = 16,   /* a TLV or TLV area runs past its end */
    MOLT_E_TLV_NOT_ALLOWED = 17, /* TLV type not allowed in the unprotected area */
    MOLT_E_TLV_MISPLACED = 18, /* hash/key/signature TLV inside the protected area */
    MOLT_E_TLV_LENGTH = 19,    /* a known TLV with the wrong length */
    MOLT_E_TLV_DUPLICATE = 20, /* a TLV that may appear once appears twice */
    MOLT_E_FLAGS = 21,         /* unsupported or contradictory header flags */

    /* Integrity and authenticity (reason classes "hash", "signature", "key"). */
    MOLT_E_HASH_MISSING = 30,  /* no hash TLV */
    MOLT_E_HASH_ALG = 31,      /* hash algorithm not allowed by policy */
    MOLT_E_HASH_MISMATCH = 32, /* computed hash differs from the hash TLV */
    MOLT_E_NO_SIGNATURE = 33,  /* policy requires a signature; none present */
    MOLT_E_SIG_NO_KEY = 34,    /* signature TLV not preceded by a key TLV */
    MOLT_E_KEY_UNTRUSTED = 35, /* key TLV names no trusted key */
    MOLT_E_SIG_INVALID = 36,   /* trusted key, but the signature does not verify */
    MOLT_E_SIG_ALG = 37,       /* signature type not allowed, or wrong for the key */
    MOLT_E_SIG_FORMAT = 38,    /* signature bytes malformed (e.g. bad DER) */
    MOLT_E_KEY_FORMAT = 39,    /* a trusted key's DER cannot be parsed */

    /* Encryption. */
    MOLT_E_ENC_NO_KEY = 50,    /* encrypted image: no decryption key configured */
    MOLT_E_ENC_TLV = 51,       /* encrypted flag without a key TLV, or wrong TLV size */
    MOLT_E_ENC_UNWRAP = 52,    /* content key cannot be unwrapped: ECIES tag or ephemeral key bad */
    MOLT_E_ENC_ALG = 53,       /* key-encryption scheme the device has no key for (e.g. AES-KW) */
    MOLT_E_ENV_FORMAT = 54,    /* key envelope malformed */
    MOLT_E_ENV_IMAGE = 55,     /* key envelope bound to another image */
    MOLT_E_ENV_AUTH = 56,      /* key envelope does not open with this device's key */
    MOLT_E_ENC_REQUIRED = 57,  /* policy requires an encrypted image; this one is not */

    /* Policy. */
    MOLT_E_ROLLBACK = 60,      /* security counter below the stored one */
    MOLT_E_DOWNGRADE = 61,     /* version below the running one (optional policy) */
    MOLT_E_TOO_LARGE = 62,     /* image larger than the slot */
    MOLT_E_DEP_UNSUPPORTED = 63, /* image declares a dependency; this port holds a single image */
    MOLT_E_DEPENDENCY = 64,    /* a dependency on another image's version is not met */

    /* Boot, activation and storage. */
    MOLT_E_NO_IMAGE = 70,      /* no verified image can run: secure state */
    MOLT_E_FLASH = 71,         /* the flash refused or failed a write or erase */
    MOLT_E_NV = 72,            /* NV counter storage failed or is corrupt */
    MOLT_E_LAYOUT = 73,        /* flash geometry unusable (slots, status area too small) */
    MOLT_E_STATE = 74,         /* request not valid in the current state */
    MOLT_E_REVERT_LOST = 75,   /* the image a revert must restore is missing or not the recorded one */

    /* Firmware update API (include/molt/fwu.h). */
    MOLT_E_FWU_CANCELLED = 80, /* download cancelled by the application */
    MOLT_E_FWU_REVERTED = 81,  /* trial not accepted before a reset: previous image restored */
    MOLT_E_FWU_RECORD = 82,    /* progress record damaged by a power cut: reason lost */
    MOLT_E_FWU_INCOMPLETE = 83, /* finish before the declared image was completely written */
    /* Attestation (molt/attest.h). */
    MOLT_E_ATTEST_CHALLENGE = 90, /* challenge is not 32, 48 or 64 bytes */
    MOLT_E_ATTEST_KEY = 91,    /* the port has no attestation key or identity */
    MOLT_E_ATTEST_NO_MEASUREMENT = 92, /* no slot holds a valid image to report */
    MOLT_E_ATTEST_SIGN = 93,   /* the port's key store failed to sign */
    /* Record store and data-preserving upgrade (molt/store.h, molt/keepdata.h). */
    MOLT_E_STORE_FULL = 100,   /* the live records would not fit one sector: nothing written */
    MOLT_E_STORE_NOT_FOUND = 101, /* no such record */
    MOLT_E_KEEP_SCHEMA = 102,  /* the image cannot migrate the device's data schema */
    MOLT_E_KEEP_PHASE = 103,   /* not valid in this phase of the data-preserving upgrade */
    MOLT_E_KEEP_IMAGE = 104,   /* the running image is neither side of the recorded upgrade */
    MOLT_E_KEEP_RESTORE = 105, /* the application's restore listener failed: reject the trial */
    MOLT_E_KEEP_SAVE = 106,    /* the application's save listener failed: upgrade not started */

    /* Deferral tickets (include/molt/awdt.h, R-AVAIL). */
    MOLT_E_AWDT_FORMAT = 110,  /* not a deferral ticket: length, magic or a zero extension */
    MOLT_E_AWDT_SIG = 111,     /* the ticket is not signed by a ticket key */
    MOLT_E_AWDT_DEVICE = 112,  /* the ticket was issued for another device */
    MOLT_E_AWDT_NONCE = 113,   /* the ticket answers no outstanding nonce (replayed) */
    MOLT_E_AWDT_EXPIRED = 114, /* the ticket's nonce is too old */
    MOLT_E_AWDT_TOO_LONG = 115, /* the ticket extends further than the device allows */

    /* Trusted-key rotation (include/molt/keyrot.h, R-ALLUPDATABLE). */
    MOLT_E_KEY_RETIRED = 120,  /* the image's signer is a retired key */
    MOLT_E_KU_FORMAT = 121,    /* not a well-formed key-update */
    MOLT_E_KU_SIG = 122,       /* key-update not signed by enough rotation keys */
    MOLT_E_KU_REPLAY = 123,    /* key-update already applied (its seq is in force) */
    MOLT_E_KU_ROLLBACK = 124,  /* key-update older than the key set in force */
    MOLT_E_KU_GAP = 125,       /* key-update skips one: the previous one is missing */
    MOLT_E_KU_KEY = 126,       /* adds a trusted or once-retired key, or retires one not in force */
    MOLT_E_KU_LOCKOUT = 127,   /* key-update would leave no image key */
    MOLT_E_KU_FULL = 128,      /* the key set would exceed the device's limits */
    MOLT_E_KU_STRANDS = 129,   /* the running image would no longer verify: retire its signer later */
    MOLT_E_BOOT_STAGE = 130    /* the image is for another boot stage (docs/boot-chain.md) */
} molt_err_t;

/* Short fixed phrase for err ("signature does not verify"); never NULL. */
const char *molt_err_str(molt_err_t err);

/* Stable identifier of err ("SIG_INVALID"), used by tests and --json. */
const char *molt_err_name(molt_err_t err);

#endif
