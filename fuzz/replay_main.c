/*
 * replay_main.c - run a fuzz target over files without libFuzzer.
 *
 * `make test` builds every target with the project's compiler (gcc, ASan +
 * UBSan) and links it with this main(): each argument is a file or a
 * directory of files (corpus, regression inputs), each file is one call of
 * LLVMFuzzerTestOneInput, as `fuzz_x -runs=0 dir...` would do under
 * libFuzzer. A crash, sanitizer report or oracle abort fails the test; an
 * argument that names nothing readable fails it too (a corpus must not
 * silently vanish). Prints how many inputs ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one(const char *path, unsigned *count)
{
    size_t n = 0;
    uint8_t *d = fuzz_slurp(path, &n);
    if (!d) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(d, n);
    free(d);
    (*count)++;
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    unsigned count = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] == '-')
            continue; /* libFuzzer flags (-runs=0 ...) */
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad |= one(argv[i], &count);
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (!dir) {
            fprintf(stderr, "replay: %s: cannot open\n", argv[i]);
            return 2;
        }
        char **names = NULL;
        size_t nn = 0;
        for (struct dirent *e; (e = readdir(dir)) != NULL;) {
            if (e->d_name[0] == '.')
                continue;
            names = realloc(names, (nn + 1) * sizeof *names);
            names[nn++] = strdup(e->d_name);
        }
        closedir(dir);
        if (nn > 1)
            qsort(names, nn, sizeof *names, cmp);
        for (size_t k = 0; k < nn; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
            bad |= one(path, &count);
            free(names[k]);
        }
        free(names);
    }
    printf("replay: %u inputs, %s\n", count, bad ? "some unreadable" : "no failure");
    return bad || count == 0 ? 1 : 0;
}
