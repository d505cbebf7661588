/*
 * cli.h - shared pieces of the `molt` host CLI: command table, error reporting,
 * whole-file I/O, number parsing and key loading.
 *
 * Exit codes (documented in docs/cli.md):
 *   0  success (for verify: the image is valid)
 *   1  the input was judged and refused (verify: invalid image, with the reason)
 *   2  usage error, unreadable or malformed input, I/O error
 * Every error is one line on stderr: "molt <cmd>: <input>: <reason>".
 */
#ifndef MOLT_CLI_H
#define MOLT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define EXIT_VALID 0
#define EXIT_INVALID 1
#define EXIT_USAGE 2

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int cmd_keygen(int argc, char **argv);
int cmd_getpub(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_sim_awdt(int argc, char **argv); /* molt sim watchdog|nonce|ticket|clock */
int cmd_attest(int argc, char **argv);
int cmd_ticket(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_envelope(int argc, char **argv);
int cmd_keyupdate(int argc, char **argv);

/* True when -h or --help is among argv[1..] (before a "--"): the command then prints its
 * usage on stdout and exits 0 (an error prints it on stderr and exits 2). */
bool cli_help_asked(int argc, char **argv);

/* `molt inspect` of a key-update (cmd_keyupdate.c): exit 0 parsed, 1 malformed. */
int cli_inspect_keyupdate(const char *path, const uint8_t *p, size_t len, bool as_json);

/* The program and the running subcommand's name, for messages ("molt" and
 * "sign"; moltd and molt-agent, which share these host pieces, set cli_prog). */
extern const char *cli_prog;
extern const char *cli_cmd;

/* Print "<prog> <cmd>: <fmt...>" and a newline to stderr. Returns EXIT_USAGE. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole file (or "-" for stdin). *buf is malloc'd; caller frees.
 * On failure prints the reason and returns false. */
bool cli_read_file(const char *path, uint8_t **buf, size_t *len);

/* Write a file atomically (temp file + rename); prints the reason on failure. */
bool cli_write_file(const char *path, const uint8_t *buf, size_t len);

/* Write a secret file with mode 0600 (temp file, then link; with force, rename
 * over an existing file). Prints the reason on failure. */
bool cli_write_secret(const char *path, const uint8_t *buf, size_t len, bool force);

/* Parse an unsigned integer (decimal or 0x hex) within [0, max]. */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Load a PEM (or DER) private or public key. Prints the reason on failure. */
EVP_PKEY *cli_load_key(const char *path, bool *is_private);

/* The public key's bytes as MCUboot hashes them: SPKI DER for EC/Ed25519/X25519,
 * PKCS#1 RSAPublicKey DER for RSA. *der is OpenSSL-allocated: OPENSSL_free() it. */
bool cli_pubkey_der(EVP_PKEY *key, uint8_t **der, size_t *len);

/* Parse hex (even length, at most cap bytes) into out; *len bytes. */
bool cli_parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len);

/* Write a raw P-256 point (0x04 || X || Y) as a PEM public key ("-": stdout). */
bool cli_write_p256_pem(const uint8_t pub[65], const char *path);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void cli_hex(const uint8_t *in, size_t len, char *out);

#endif
