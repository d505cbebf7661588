/*
 * cli_help.c - how a molt command knows it was asked for --help (docs/cli.md).
 * A command prints its usage on stdout and exits 0 when asked; on a usage error it
 * prints it on stderr and exits 2. Apart from molt.c so the commands link without main().
 */
#include <string.h>

#include "cli.h"

bool cli_help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}
