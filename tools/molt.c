/*
 * molt.c - entry point of the `molt` host CLI: dispatch to a subcommand.
 * Keys, signing, verification and inspection of MCUboot-format images.
 * Verification always goes through libmolt (lib/), as on a device.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"keygen", cmd_keygen, "generate a key pair: -t TYPE -k KEY.pem"},
    {"getpub", cmd_getpub, "print a public key: -k KEY.pem [-e pem|raw|c]"},
    {"sign", cmd_sign, "sign an image (imgtool's options): [options] IN OUT"},
    {"verify", cmd_verify, "verify an image as a device would: -k PUB [-k PUB...] [--enc-key K] IMAGE"},
    {"inspect", cmd_inspect, "show an image's header and TLVs: IMAGE [--json]"},
    {"decrypt", cmd_decrypt, "decrypt an encrypted image as a device would: -k ENC_PRIV IN OUT"},
    {"envelope", cmd_envelope, "per-device key envelope: make --content-key K --device PUB --image IMG -o OUT"},
    {"sim", cmd_sim, "a simulated device: create, write, boot, state, powerfail, life, ... (molt sim --help)"},
    {"keyupdate", cmd_keyupdate, "rotate trusted keys: make|sign|check a signed key-update (docs/keys.md)"},
    {"attest", cmd_attest, "check a device's attestation token: verify --iak PUB --nonce HEX TOKEN"},
    {"ticket", cmd_ticket, "sign a deferral ticket: -k KEY --iak PUB|--device-id HEX --nonce HEX --seconds S --boots B"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: molt COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 refused (invalid image), 2 usage or I/O error\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("molt %s\n", MOLT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            host_set_context(NULL, commands[i].name);
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "molt: unknown command '%s' (see molt --help)\n", argv[1]);
    return EXIT_USAGE;
}
