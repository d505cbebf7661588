/*
 * cli.h - the `molt` CLI's own pieces: the command table and the few helpers
 * only its commands use. Host code shared with moltd and molt-agent is the host
 * library (host/, the molt_host headers).
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

#include "molt_host/util.h"

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

/* Write a secret file with mode 0600 (temp file, then link; with force, rename
 * over an existing file). Prints the reason on failure. */
bool cli_write_secret(const char *path, const uint8_t *buf, size_t len, bool force);

/* Write a raw P-256 point (0x04 || X || Y) as a PEM public key ("-": stdout). */
bool cli_write_p256_pem(const uint8_t pub[65], const char *path);

#endif
