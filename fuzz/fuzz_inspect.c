/*
 * fuzz_inspect.c - `molt inspect` (tools/cmd_inspect.c) on arbitrary files.
 *
 * The input is written to a memory file and given to cmd_inspect() as a path,
 * once with --json and once as text (stdout goes to a memory file during
 * the call). Oracle: the exit code is 0 (described)
 * or 1 (malformed, with the reason), never 2 or a crash; the --json output is
 * one JSON object that jansson parses back. stdout goes to a memory file;
 * the tool's stderr lines go to /dev/null (sanitizer reports do not use the
 * stdio stream and still reach the terminal).
 */
#undef _POSIX_C_SOURCE
#define _GNU_SOURCE 1 /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_fd = -1, out_fd = -1, saved_stdout = -1;
static char in_path[64];

static void setup(void)
{
    in_fd = memfd_create("fuzz-inspect-in", 0);
    out_fd = memfd_create("fuzz-inspect-out", 0);
    if (in_fd < 0 || out_fd < 0)
        abort();
    snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull)
        stderr = devnull;
    saved_stdout = dup(STDOUT_FILENO);
    if (saved_stdout < 0)
        abort();
    host_set_context("molt", NULL);
    host_set_context(NULL, "inspect");
}

static int inspect(bool json)
{
    char a0[] = "inspect", a1[] = "--json";
    char *argv[4] = {a0, in_path, NULL, NULL};
    int argc = 2;
    if (json)
        argv[argc++] = a1;
    fflush(stdout);
    if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0 || dup2(out_fd, STDOUT_FILENO) < 0)
        abort();
    int rc = cmd_inspect(argc, argv);
    fflush(stdout);
    if (dup2(saved_stdout, STDOUT_FILENO) < 0)
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (in_fd < 0)
        setup();
    if (size > 256u * 1024u)
        return 0;
    if (ftruncate(in_fd, 0) != 0 || pwrite(in_fd, data, size, 0) != (ssize_t)size)
        abort();
    int rc = inspect(true);
    if (rc != 0 && rc != 1)
        FUZZ_FAIL("a readable file is described or refused, nothing else");
    off_t n = lseek(out_fd, 0, SEEK_END);
    char *out = malloc((size_t)n + 1);
    if (!out || pread(out_fd, out, (size_t)n, 0) != (ssize_t)n)
        abort();
    json_error_t e;
    json_t *j = json_loadb(out, (size_t)n, 0, &e);
    if (!json_is_object(j))
        FUZZ_FAIL("--json printed something that is not one JSON object");
    json_decref(j);
    free(out);
    if (inspect(false) != rc)
        FUZZ_FAIL("text and JSON disagree on the verdict");
    return 0;
}
