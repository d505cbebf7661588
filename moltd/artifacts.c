/*
 * artifacts.c - the content-addressed package store on disk (<dir>/<sha256>):
 * committing an upload into it, and reconciling it with the database at start-up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "moltd.h"

/* --- the package store at start-up ----------------------------------------- */

#define STALE_UPLOAD_S 3600   /* another host's unfinished upload is abandoned after this */
#define ORPHAN_ARTIFACT_S 600 /* an artifact no package names, older than this, was never committed */

/* ".upload.<host>.<pid>.XXXXXX": may it be removed? Our host's are removed when
 * their process is gone; another host's (a shared directory) when stale. */
static bool upload_abandoned(const moltd_t *srv, const char *name, time_t mtime, time_t now)
{
    const char *rest = name + 8; /* after ".upload." */
    const char *last = strrchr(rest, '.');
    const char *p = last;
    while (p && p > rest && p[-1] != '.')
        p--;
    if (!last || !p || p == rest || last - p < 1 || strspn(p, "0123456789") != (size_t)(last - p))
        return true; /* an older moltd's ".upload.XXXXXX": one process per store then */
    size_t hl = (size_t)(p - 1 - rest);
    bool ours = hl == strlen(srv->host) && strncmp(rest, srv->host, hl) == 0;
    long pid = strtol(p, NULL, 10);
    if (ours)
        return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
    return now - mtime > STALE_UPLOAD_S;
}

void artifacts_reconcile(moltd_t *srv)
{
    DIR *dir = opendir(srv->artifact_dir);
    if (!dir)
        return;
    db_rows_t rows = {0};
    srv_lock(srv);
    db_status_t st = Q0(srv, &rows, "SELECT sha256, size, id FROM packages");
    srv_unlock(srv);
    if (st != DB_OK) {
        fprintf(stderr, "moltd: warning: store not reconciled: %s\n", srv_db(srv)->err);
        closedir(dir);
        return;
    }
    time_t now = time(NULL);
    unsigned swept = 0, orphans = 0, young = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        const char *n = e->d_name;
        bool upload = strncmp(n, ".upload.", 8) == 0;
        bool artifact = strlen(n) == 64 && strspn(n, "0123456789abcdef") == 64;
        if (!upload && !artifact)
            continue;
        char path[4200];
        struct stat stt;
        snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, n);
        if (lstat(path, &stt) != 0 || !S_ISREG(stt.st_mode))
            continue;
        if (upload) {
            if (upload_abandoned(srv, n, stt.st_mtime, now) && unlink(path) == 0)
                swept++;
            continue;
        }
        bool named = false;
        for (size_t i = 0; !named && i < rows.nrows; i++)
            named = strcmp(db_cell(&rows, i, 0), n) == 0;
        if (named)
            continue;
        /* Renamed into place but its row never committed (a crash in between),
         * unless another instance is committing it right now: only old ones go. */
        if (now - stt.st_mtime > ORPHAN_ARTIFACT_S) {
            if (unlink(path) == 0)
                orphans++;
        } else {
            young++;
        }
    }
    closedir(dir);
    unsigned missing = 0;
    for (size_t i = 0; i < rows.nrows; i++) {
        char path[4200];
        struct stat stt;
        snprintf(path, sizeof path, "%s/%s", srv->artifact_dir, db_cell(&rows, i, 0));
        if (stat(path, &stt) != 0 || (long long)stt.st_size != strtoll(db_cell(&rows, i, 1), NULL, 10)) {
            fprintf(stderr, "moltd: warning: package %s: artifact %s is missing or damaged in %s\n", db_cell(&rows, i, 2),
                    db_cell(&rows, i, 0), srv->artifact_dir);
            missing++;
        }
    }
    db_rows_free(&rows);
    if (swept || orphans || young)
        fprintf(stderr, "moltd: store: removed %u unfinished upload%s and %u artifact%s no package names%s\n", swept,
                swept == 1 ? "" : "s", orphans, orphans == 1 ? "" : "s",
                young ? " (newer unnamed artifacts kept: another instance may be committing them)" : "");
}

bool artifact_commit(const moltd_t *srv, const char *tmp_path, const char *path)
{
    if (rename(tmp_path, path) != 0)
        return false;
    int dfd = open(srv->artifact_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}
