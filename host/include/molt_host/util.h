/*
 * molt_host/util.h - the host library's base layer: error lines, whole-file I/O,
 * number and hex parsing, key loading, a growable byte buffer.
 *
 * Layers of the host library (each header includes only the ones before it):
 *   util.h -> version.h, keyring.h, keys.h -> encrypt.h -> image_writer.h;
 *   attest_check.h and ticket.h stand beside them.
 * Every function that can fail prints one line on stderr through host_error()
 * ("<prog> <cmd>: <reason>") and returns false (or NULL).
 */
#ifndef MOLT_HOST_UTIL_H
#define MOLT_HOST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* The exit codes of molt's programs (docs/cli.md). */
#define EXIT_VALID 0
#define EXIT_INVALID 1
#define EXIT_USAGE 2

/* Name the program and the running command for error lines ("molt", "sign";
 * moltd and molt-agent pass their own name and ""). Both strings must outlive
 * their use; NULL leaves a part unchanged. */
void host_set_context(const char *prog, const char *cmd);

/* Print "<prog> <cmd>: <fmt...>" and a newline to stderr. Returns EXIT_USAGE. */
int host_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The reason of the last OpenSSL error (never NULL); clears the error queue. */
const char *host_ossl_error(void);

/* Read a whole file (or "-" for stdin). *buf is malloc'd; caller frees.
 * On failure prints the reason and returns false. */
bool host_read_file(const char *path, uint8_t **buf, size_t *len);

/* Write a file atomically (temp file + rename); prints the reason on failure. */
bool host_write_file(const char *path, const uint8_t *buf, size_t len);

/* Parse an unsigned integer (decimal or 0x hex) within [0, max]. */
bool host_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Load a PEM (or DER) private or public key. Prints the reason on failure. */
EVP_PKEY *host_load_key(const char *path, bool *is_private);

/* The public key's bytes as MCUboot hashes them: SPKI DER for EC/Ed25519/X25519,
 * PKCS#1 RSAPublicKey DER for RSA. *der is OpenSSL-allocated: OPENSSL_free() it. */
bool host_pubkey_der(EVP_PKEY *key, uint8_t **der, size_t *len);

/* Parse hex (even length, at most cap bytes) into out; *len bytes. */
bool host_parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len);

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void host_hex(const uint8_t *in, size_t len, char *out);

/* A growable byte buffer. Appends after an allocation failure are ignored and
 * set oom, so callers check once at the end. */
typedef struct sbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

void sbuf_put(sbuf_t *b, const void *data, size_t n);
void sbuf_fill(sbuf_t *b, uint8_t value, size_t n);
void sbuf_u8(sbuf_t *b, uint8_t v);
void sbuf_u16(sbuf_t *b, uint16_t v); /* little-endian */
void sbuf_free(sbuf_t *b);

#endif
