/*
 * offer.c - reading what a hawkBit-shaped server offers: the artifact this
 * device takes, the version, the download link and size, the user message
 * (R-NOTIFY) and hawkBit's download / update modes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

/* "2.0.0", "2.0", "2.0.0+0", "2.0.0.7": up to four numbers, the last one after '+'
 * or '.'; missing parts are 0. false for anything else. */
static bool version_parse(const char *s, unsigned long v[4])
{
    memset(v, 0, 4 * sizeof *v);
    for (int i = 0; i < 4; i++) {
        if (!s || *s < '0' || *s > '9')
            return false;
        char *end;
        v[i] = strtoul(s, &end, 10);
        if (*end == '\0')
            return true;
        if (!(i < 3 && (*end == '.' || (*end == '+' && i == 2))))
            return false;
        s = end + 1;
    }
    return false;
}

/* The server's form of a version against the device's: a plain hawkBit server
 * says "2.0.0" where the image (and moltd) say "2.0.0+0". Numerically equal is
 * the same version; strings that are not versions compare as strings. */
bool version_same(const char *mine, const char *theirs)
{
    unsigned long x[4], y[4];
    if (version_parse(mine, x) && version_parse(theirs, y))
        return memcmp(x, y, sizeof x) == 0;
    return strcmp(mine, theirs) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Is art (file name fn) the one to take? By --artifact's name, else any file
 * that is not known to be something other than a signed image. */
static bool art_takes(const agent_t *a, const char *fn)
{
    static const char *const foreign[] = {".swu", ".md5sum", ".md5", ".sha1", ".sha256", ".sig", ".asc",
                                          ".txt", ".json", ".deb", ".rpm", ".ipk"};
    if (!fn)
        return false;
    if (a->artifact)
        return strcmp(fn, a->artifact) == 0;
    for (size_t f = 0; f < sizeof foreign / sizeof *foreign; f++)
        if (ends_with(fn, foreign[f]))
            return false;
    return true;
}

/* The artifact this device takes: the one named by --artifact, else by kind,
 * not position: the first signed-image artifact of a chunk of part "os"
 * (hawkBit's firmware part), then of any chunk, skipping what is not an image
 * (SWUpdate archives, checksum and signature files, text). *chunk: its chunk. */
json_t *pick_artifact(const agent_t *a, json_t *chunks, json_t **chunk)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t i, k;
        json_t *c, *art;
        json_array_foreach(chunks, i, c)
        {
            const char *part = json_string_value(json_object_get(c, "part"));
            if (!a->artifact && (pass == 0) != (part && strcmp(part, "os") == 0))
                continue;
            if (a->artifact && pass == 1)
                break;
            json_array_foreach(json_object_get(c, "artifacts"), k, art)
            {
                if (art_takes(a, json_string_value(json_object_get(art, "filename")))) {
                    *chunk = c;
                    return art;
                }
            }
        }
    }
    *chunk = NULL;
    return NULL;
}

/* The chunk's message for the user (metadata molt.message), NULL if none. */
const char *chunk_message(json_t *chunk)
{
    const char *msg = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(chunk, "metadata"), i, m)
    {
        const char *k = json_string_value(json_object_get(m, "key"));
        if (k && strcmp(k, "molt.message") == 0)
            msg = json_string_value(json_object_get(m, "value"));
    }
    return msg;
}

static const char *link_href(json_t *links, const char *name)
{
    return json_string_value(json_object_get(json_object_get(links, name), "href"));
}

/* hawkBit's modes: download skip: not now; update skip (a download-only
 * action, or outside the maintenance window) or attempt with --defer-attempt:
 * download and verify, install later. Unknown values are read as forced. */
void offer_read(const agent_t *a, json_t *dep, offer_t *o)
{
    json_t *d = json_object_get(dep, "deployment");
    memset(o, 0, sizeof *o);
    o->art = pick_artifact(a, json_object_get(d, "chunks"), &o->chunk);
    o->ver = json_string_value(json_object_get(o->chunk, "version"));
    o->dl = json_string_value(json_object_get(d, "download"));
    o->up = json_string_value(json_object_get(d, "update"));
    o->mw = json_string_value(json_object_get(d, "maintenanceWindow"));
    o->no_download = o->dl && strcmp(o->dl, "skip") == 0;
    o->no_install = (o->up && strcmp(o->up, "skip") == 0) || (o->mw && strcmp(o->mw, "unavailable") == 0) ||
                    (o->up && strcmp(o->up, "attempt") == 0 && a->defer_attempt);
    json_t *links = json_object_get(o->art, "_links");
    o->url = link_href(links, "download-http");
    if (!o->url)
        o->url = link_href(links, "download");
    o->env_url = link_href(links, "molt-key-envelope");
    o->size = json_integer_value(json_object_get(o->art, "size"));
    o->msg = chunk_message(o->chunk);
    const char *part = json_string_value(json_object_get(o->chunk, "part"));
    o->keyset = part && strcmp(part, "molt-keyset") == 0;
}
