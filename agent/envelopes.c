/*
 * envelopes.c - key envelope storage (R-CONF, R-ONEPKG).
 *
 * The agent keeps up to AGENT_ENVELOPES envelopes, hands them to the device's
 * key store (the adapter's set_envelopes) and writes each to the envelope
 * directory (one file per image, named by the image hash it is bound to),
 * where the next power-on finds them again: the boot code then has the
 * envelopes of both slots' images for an activation and for a revert.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "molt_host/util.h"
#include "molt/boot.h"

/* The digest an envelope is bound to (docs/encryption.md: byte 7 the hash TLV
 * type, then its value); NULL if the envelope is malformed. */
static const uint8_t *env_binding(const uint8_t *e, size_t len, size_t *dlen)
{
    *dlen = len >= MOLT_ENV_HDR ? (e[7] == MOLT_TLV_SHA256 ? 32 : e[7] == MOLT_TLV_SHA384 ? 48
                                   : e[7] == MOLT_TLV_SHA512 ? 64 : 0) : 0;
    if (*dlen == 0 || len < MOLT_ENV_HDR + *dlen || len > MOLT_ENV_MAX || memcmp(e, "MENV", 4) != 0)
        return NULL;
    return e + MOLT_ENV_HDR;
}

/* Is d the hash TLV value of the image in slot id? */
static bool slot_bound(agent_t *a, uint32_t id, const uint8_t *d, size_t dlen)
{
    uint8_t got[64];
    size_t glen = 0;
    return a->dev.slot_digest(a->dev.ctx, id, got, &glen) && glen == dlen && memcmp(got, d, dlen) == 0;
}

static void env_path(const agent_t *a, const uint8_t *d, size_t dlen, char *out, size_t cap)
{
    char hex[129];
    host_hex(d, dlen, hex);
    snprintf(out, cap, "%s/%s.env", a->env_dir, hex);
}

/* Where an envelope bound to d goes: the one bound to the same image, else a
 * free place, else (the store full) one bound to neither slot's image, whose
 * file is removed; AGENT_ENVELOPES if none. */
static unsigned env_place(agent_t *a, const uint8_t *d, size_t dlen)
{
    size_t olen;
    unsigned i, n = a->nenv;
    for (i = 0; i < n; i++) {
        const uint8_t *o = env_binding(a->env[i], a->env_len[i], &olen);
        if (o && olen == dlen && memcmp(o, d, dlen) == 0)
            return i;
    }
    for (unsigned j = 0; i == n && n == AGENT_ENVELOPES && j < n; j++) {
        const uint8_t *o = env_binding(a->env[j], a->env_len[j], &olen);
        if (!o || (!slot_bound(a, MOLT_AREA_PRIMARY, o, olen) && !slot_bound(a, MOLT_AREA_SECONDARY, o, olen))) {
            char old[1200];
            if (o) {
                env_path(a, o, olen, old, sizeof old);
                unlink(old);
            }
            i = j;
        }
    }
    return i;
}

/* Write the envelope to its file atomically. */
static bool env_write(agent_t *a, const uint8_t *e, size_t len, const uint8_t *d, size_t dlen, char *why, size_t cap)
{
    char path[1200], tmp[1300];
    env_path(a, d, dlen, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, e, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        snprintf(why, cap, "%.900s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* Keep an envelope in the key store (and, with save, in the envelope directory):
 * it replaces one bound to the same image; when the store is full, one bound
 * to neither slot's image makes room (those of both slots stay while a revert
 * is possible). */
bool env_keep(agent_t *a, const uint8_t *e, size_t len, bool save, char *why, size_t cap)
{
    size_t dlen;
    const uint8_t *d = env_binding(e, len, &dlen);
    if (!d) {
        snprintf(why, cap, "not a key envelope (%zu bytes)", len);
        return false;
    }
    unsigned i = env_place(a, d, dlen);
    if (i == AGENT_ENVELOPES) {
        snprintf(why, cap, "the key store holds %u envelopes, all for the images in the slots", a->nenv);
        return false;
    }
    if (save && !env_write(a, e, len, d, dlen, why, cap))
        return false;
    memcpy(a->env[i], e, len);
    a->env_len[i] = len;
    if (i == a->nenv)
        a->nenv++;
    const uint8_t *ptr[AGENT_ENVELOPES];
    for (unsigned k = 0; k < a->nenv; k++)
        ptr[k] = a->env[k];
    a->dev.set_envelopes(a->dev.ctx, ptr, a->env_len, a->nenv);
    return true;
}

/* At power-on: the envelopes received before, from the envelope directory. */
int env_load_dir(agent_t *a)
{
    if (mkdir(a->env_dir, 0700) != 0 && errno != EEXIST)
        return die("%s: %s", a->env_dir, strerror(errno));
    DIR *dir = opendir(a->env_dir);
    if (!dir)
        return die("%s: %s", a->env_dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".env") != 0)
            continue;
        char path[1400], why[200];
        uint8_t e[MOLT_ENV_MAX + 1];
        snprintf(path, sizeof path, "%s/%s", a->env_dir, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t len = fd >= 0 ? read(fd, e, sizeof e) : -1;
        if (fd >= 0)
            close(fd);
        if (len <= 0 || !env_keep(a, e, (size_t)len, false, why, sizeof why)) {
            say(a, "key envelope %s ignored: %s", path, len <= 0 ? "unreadable" : why);
            ev(a, "error", "{s:s,s:s,s:s}", "code", "envelope_ignored", "path", path, "detail",
               len <= 0 ? "unreadable" : why);
        }
    }
    closedir(dir);
    return 0;
}
