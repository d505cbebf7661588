/*
 * download.c - the artifact download into the FWU staging area (R-BACKGROUND).
 *
 * The download runs in a thread of its own while the main thread keeps polling
 * moltd at config.polling.sleep: a cancelAction seen meanwhile stops the
 * download at the next block. It resumes with HTTP Range from where
 * psa_fwu_query() says the download stands, never takes more than the declared
 * size, feeds the device adapter's write (psa_fwu_write) in blocks of at most
 * PSA_FWU_MAX_WRITE_SIZE and saves the device every 16 KiB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "agent.h"

const char *psa_name(psa_status_t s)
{
    switch (s) {
    case PSA_SUCCESS: return "SUCCESS";
    case PSA_SUCCESS_REBOOT: return "SUCCESS_REBOOT";
    case PSA_ERROR_INVALID_SIGNATURE: return "INVALID_SIGNATURE";
    case PSA_ERROR_NOT_PERMITTED: return "NOT_PERMITTED";
    case PSA_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case PSA_ERROR_BAD_STATE: return "BAD_STATE";
    case PSA_ERROR_INSUFFICIENT_STORAGE: return "INSUFFICIENT_STORAGE";
    case PSA_ERROR_STORAGE_FAILURE: return "STORAGE_FAILURE";
    default: return "ERROR";
    }
}

typedef struct dl {
    agent_t *a;
    CURL *curl;
    uint64_t off;        /* image offset of the next byte for psa_fwu_write */
    uint64_t size;       /* declared artifact size */
    uint64_t skip;       /* bytes to discard (a server that ignored the Range) */
    long status;
    psa_status_t werr;
    bool over, dropped;
    uint64_t next_save, next_print;
    uint64_t start_off;  /* for --rate */
    struct timespec t0;
} dl_t;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool aborted(const agent_t *a)
{
    return __atomic_load_n(&a->abort_dl, __ATOMIC_SEQ_CST) != 0;
}

/* After a block is written: the rate limit, the checkpoint, the progress. false: stop here. */
static bool after_block(dl_t *x)
{
    agent_t *a = x->a;
    /* --rate: a slow link, block by block (the deployer can cancel meanwhile) */
    while (a->rate > 0 && !aborted(a) && since(&x->t0) < (double)(x->off - x->start_off) / (double)a->rate)
        sleep_ms(20);
    if (x->dropped || aborted(a))
        return false; /* the connection "drops" here, or the deployer cancelled: stop at once */
    if (x->off >= x->next_save) { /* the flash is the device's: persist what is written */
        dev_save(a);
        x->next_save = x->off + 16384;
    }
    if (x->off >= x->next_print || x->off == x->size) {
        unsigned long long pct = x->off * 100 / (x->size ? x->size : 1);
        say(a, "download %llu/%llu bytes (%llu%%)", (unsigned long long)x->off, (unsigned long long)x->size, pct);
        ev(a, "download_progress", "{s:s,s:I,s:I,s:I}", "action", a->action, "offset", (json_int_t)x->off, "size",
           (json_int_t)x->size, "percent", (json_int_t)pct);
        x->next_print = x->off + x->size / 4 + 1;
    }
    return true;
}

/* Write len bytes of image data in blocks; false: stop the transfer. */
static bool write_blocks(dl_t *x, const char *d, size_t len)
{
    agent_t *a = x->a;
    size_t used = 0;
    while (used < len) {
        size_t k = len - used > PSA_FWU_MAX_WRITE_SIZE ? PSA_FWU_MAX_WRITE_SIZE : len - used;
        if (a->drop_after && !a->dropped && a->dropped_bytes + k > a->drop_after) {
            k = (size_t)(a->drop_after - a->dropped_bytes);
            x->dropped = a->dropped = true;
        }
        if (k > 0) {
            x->werr = a->dev.write(a->dev.ctx, (size_t)x->off, d + used, k);
            if (x->werr != PSA_SUCCESS)
                return false;
            x->off += k;
            used += k;
            a->dropped_bytes += k;
        }
        if (!after_block(x))
            return false;
    }
    return true;
}

static size_t on_data(char *d, size_t sz, size_t n, void *ctx)
{
    dl_t *x = ctx;
    size_t len = sz * n, used = 0;
    if (x->status == 0) { /* first bytes: a 200 to a ranged request sends the file from 0 */
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status == 200 && x->off > 0)
            x->skip = x->off;
    }
    if (x->status != 200 && x->status != 206)
        return len; /* an error page: not image data (the status is checked after) */
    while (used < len && x->skip > 0) { /* a 200 to a ranged request: skip what we have */
        size_t k = len - used < x->skip ? len - used : (size_t)x->skip;
        used += k;
        x->skip -= k;
    }
    if (x->off + (len - used) > x->size) { /* never more than the declared size */
        x->over = true;
        return 0;
    }
    return write_blocks(x, d + used, len - used) ? len : 0;
}

/* Why a finished transfer is not a complete download ("" if it is): a code for
 * the event, a sentence for the log. */
static const char *dl_verdict(const dl_t *x, CURLcode rc, long code, char *why, size_t cap)
{
    unsigned long long off = x->off, size = x->size;
    why[0] = '\0';
    if (aborted(x->a))
        return snprintf(why, cap, "the deployer cancels the update (after %llu bytes)", off), "cancelled";
    if (x->dropped)
        return snprintf(why, cap, "connection dropped after %llu bytes (fault injected)", off), "dropped";
    if (x->werr != PSA_SUCCESS)
        return snprintf(why, cap, "psa_fwu_write refused the data at %llu: %s", off, psa_name(x->werr)), "write";
    if (x->over || rc == CURLE_FILESIZE_EXCEEDED)
        return snprintf(why, cap, "the server sent more than the declared %llu bytes", size), "oversize";
    if (rc != CURLE_OK)
        return snprintf(why, cap, "%s after %llu bytes", curl_easy_strerror(rc), off), "transport";
    if (code != 200 && code != 206)
        return snprintf(why, cap, "HTTP %ld", code), "http";
    if (x->off != x->size)
        return snprintf(why, cap, "short download: %llu of %llu bytes", off, size), "short";
    return "";
}

static void dl_setopts(CURL *c, dl_t *x, const char *url)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* a mirror or CDN: the package is signed end to end */
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->size);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
}

/* Download [off, size) into the FWU staging area. Returns the empty string when
 * complete, else a reason code (why: the sentence). */
static const char *download(agent_t *a, const char *url, uint64_t off, uint64_t size, char *why, size_t whycap)
{
    dl_t x = {.a = a, .off = off, .size = size, .next_save = off + 16384, .next_print = off, .start_off = off};
    if (off >= size) {
        snprintf(why, whycap, "nothing left to download at %llu of %llu", (unsigned long long)off,
                 (unsigned long long)size);
        return "nothing";
    }
    void *h = NULL;
    CURL *c = ddi_download_handle(a, &h);
    if (!c)
        return snprintf(why, whycap, "no connection"), "transport";
    dl_setopts(c, &x, url);
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off, (unsigned long long)size - 1);
    if (off > 0) {
        curl_easy_setopt(c, CURLOPT_RANGE, range);
        say(a, "resuming the download at byte %llu (Range: bytes=%s)", (unsigned long long)off, range);
    }
    ev(a, "download_start", "{s:s,s:s,s:I,s:I,s:b}", "action", a->action, "url", url, "offset", (json_int_t)off,
       "size", (json_int_t)size, "resume", off > 0);
    clock_gettime(CLOCK_MONOTONIC, &x.t0);
    x.curl = c;
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    ddi_download_release(c, h);
    dev_save(a);
    const char *v = dl_verdict(&x, rc, code, why, whycap);
    if (*v)
        ev(a, "download_interrupted", "{s:s,s:s,s:I,s:I,s:s}", "action", a->action, "reason", v, "offset",
           (json_int_t)x.off, "size", (json_int_t)size, "detail", why);
    return v;
}

typedef struct bg {
    agent_t *a;
    const char *url;
    uint64_t off, size;
    char why[1024];
    bool ok;
    volatile int done;
} bg_t;

static void *bg_download(void *ctx)
{
    bg_t *b = ctx;
    b->ok = *download(b->a, b->url, b->off, b->size, b->why, sizeof b->why) == '\0';
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* The polling thread while the download runs: poll at config.polling.sleep; a
 * cancelAction stops the download. */
static void poll_beside(agent_t *a, bg_t *b)
{
    long waited = 0, every = (a->sleep_s > 0 ? a->sleep_s : 1) * 1000;
    while (!__atomic_load_n(&b->done, __ATOMIC_SEQ_CST)) {
        sleep_ms(50);
        waited += 50;
        if (waited < every)
            continue;
        waited = 0;
        buf_t r = {0};
        long code = ddi_request(a, "GET", a->base, NULL, NULL, 0, &r);
        if (code == 200 && r.p && strstr(r.p, "\"cancelAction\"")) {
            say(a, "the deployer cancels the update: stopping the download");
            ev(a, "cancel", "{s:s,s:s}", "action", a->action, "result", "stopping_download");
            __atomic_store_n(&a->abort_dl, 1, __ATOMIC_SEQ_CST);
        }
        free(r.p);
    }
}

bool download_bg(agent_t *a, const char *url, uint64_t off, uint64_t size, char *why, size_t whycap)
{
    static bg_t b; /* one download at a time */
    memset(&b, 0, sizeof b);
    b.a = a;
    b.url = url;
    b.off = off;
    b.size = size;
    __atomic_store_n(&a->abort_dl, 0, __ATOMIC_SEQ_CST);
    pthread_t t;
    if (pthread_create(&t, NULL, bg_download, &b) != 0)
        bg_download(&b);
    else {
        ddi_set_downloading(true); /* the download thread has the main handle: polls take the side one */
        poll_beside(a, &b);
        pthread_join(t, NULL);
        ddi_set_downloading(false);
    }
    snprintf(why, whycap, "%s", b.why);
    if (b.ok)
        ev(a, "download_done", "{s:s,s:I}", "action", a->action, "size", (json_int_t)size);
    return b.ok;
}
