/*
 * awdt.c - deferral tickets for the authenticated watchdog (R-AVAIL;
 * molt/awdt.h). The check believes nothing a ticket says before a ticket key's
 * signature over it verifies, and changes the state only when every rule holds.
 */
#include "molt/awdt.h"

#include <string.h>

#include "area.h"
#include "crc32.h"
#include "crypto.h"

static const uint8_t k_magic[4] = {'M', 'D', 'T', '1'};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Equal, in time that does not depend on where the bytes differ. */
static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

molt_err_t molt_awdt_nonce(molt_awdt_state_t *st, molt_err_t (*random)(void *ctx, void *buf, size_t len),
                           void *ctx, uint32_t now, uint32_t boots)
{
    if (st == NULL || random == NULL)
        return MOLT_E_ARG;
    uint8_t n[MOLT_AWDT_NONCE_LEN];
    molt_err_t e = random(ctx, n, sizeof n);
    if (e != MOLT_OK)
        return e;
    memcpy(st->nonce, n, sizeof n);
    st->nonce_time = now;
    st->nonce_boot = boots;
    st->nonce_out = true;
    return MOLT_OK;
}

/* A ticket key signed the first MOLT_AWDT_SIGNED_LEN bytes. */
static molt_err_t signed_by_ticket_key(const molt_keyring_t *keys, const uint8_t *t)
{
    if (keys == NULL || keys->count == 0)
        return MOLT_E_AWDT_SIG;
    molt_err_t e = molt_crypto_init();
    if (e != MOLT_OK)
        return e;
    molt_hash_ctx_t h;
    uint8_t digest[32];
    size_t dlen = 0;
    if ((e = molt_hash_start(&h, MOLT_HASH_SHA256)) != MOLT_OK)
        return e;
    if ((e = molt_hash_update(&h, t, MOLT_AWDT_SIGNED_LEN)) != MOLT_OK ||
        (e = molt_hash_finish(&h, digest, sizeof digest, &dlen)) != MOLT_OK) {
        molt_hash_abort(&h);
        return e;
    }
    for (size_t i = 0; i < keys->count; i++) {
        molt_pubkey_t pk;
        if (molt_der_parse_pubkey(keys->keys[i].der, keys->keys[i].der_len, &pk) != MOLT_OK ||
            pk.type != MOLT_KEY_P256)
            continue;
        if (molt_ecdsa_verify_raw(&pk, MOLT_HASH_SHA256, digest, dlen, t + MOLT_AWDT_SIGNED_LEN, 64) == MOLT_OK)
            return MOLT_OK;
    }
    return MOLT_E_AWDT_SIG;
}

molt_err_t molt_awdt_ticket_check(const molt_awdt_policy_t *pol, molt_awdt_state_t *st, const uint8_t *ticket,
                                  size_t len, uint32_t now)
{
    if (pol == NULL || st == NULL || (ticket == NULL && len != 0))
        return MOLT_E_ARG;
    if (len != MOLT_AWDT_TICKET_LEN || memcmp(ticket, k_magic, sizeof k_magic) != 0)
        return MOLT_E_AWDT_FORMAT;
    molt_err_t e = signed_by_ticket_key(pol->keys, ticket);
    if (e != MOLT_OK)
        return e;
    uint32_t secs = le32(ticket + 52), boots = le32(ticket + 56);
    if (secs == 0 || boots == 0)
        return MOLT_E_AWDT_FORMAT;
    if (!same(ticket + 4, pol->device_id, MOLT_AWDT_ID_LEN))
        return MOLT_E_AWDT_DEVICE;
    if (!st->nonce_out || !same(ticket + 36, st->nonce, MOLT_AWDT_NONCE_LEN))
        return MOLT_E_AWDT_NONCE;
    /* Device time is monotonic; a clock that went backwards ages the nonce out. */
    if (now < st->nonce_time || now - st->nonce_time > pol->nonce_ttl)
        return MOLT_E_AWDT_EXPIRED;
    if (secs > pol->max_seconds || boots > pol->max_boots)
        return MOLT_E_AWDT_TOO_LONG;
    /* Counted from the nonce's issue, so a ticket held back gains nothing; never
     * shortens a deadline already granted, never wraps. */
    uint32_t dl = st->nonce_time + secs < st->nonce_time ? UINT32_MAX : st->nonce_time + secs;
    uint32_t bl = st->nonce_boot + boots < st->nonce_boot ? UINT32_MAX : st->nonce_boot + boots;
    if (dl > st->deadline)
        st->deadline = dl;
    if (bl > st->boot_limit)
        st->boot_limit = bl;
    st->nonce_out = false;
    memset(st->nonce, 0, sizeof st->nonce);
    st->recovery = false; /* a ticket is the deployer's word: normal boots again */
    return MOLT_OK;
}

bool molt_awdt_expired(const molt_awdt_state_t *st, uint32_t now, uint32_t boots)
{
    return st == NULL || now >= st->deadline || boots >= st->boot_limit;
}


/* --- persistent state --- */

#define ST_MAGIC 0x57u
#define ST_VERSION 2u
/* magic, version, flags (bit 0: recovery latched, bit 1: approval pending), 1 reserved, seq, deadline,
 * boot_limit, base, entry version (major, minor, revision 16, build 32),
 * CRC-32 of the 28 bytes before */
#define ST_HDR 32u
#define ST_CRC_OFF 28u
#define ST_F_RECOVERY 0x01u
#define ST_F_PENDING 0x02u /* an activated trial above entry awaits its confirmation */
#define UNIT_MAX 256u

typedef struct st_rec {
    bool valid;
    uint32_t half, seq, deadline, boot_limit, base;
    bool recovery;
    molt_version_t entry;
    bool pending;
} st_rec_t;

static uint32_t unit_of(const molt_area_t *a) { return a->write_align < 8u ? 8u : a->write_align; }
static uint32_t hdr_len(const molt_area_t *a) { return ((ST_HDR + unit_of(a) - 1u) / unit_of(a)) * unit_of(a); }

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4u; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

/* Bytes in one half, 0 when the area cannot be cut into two whole halves that
 * hold a header and at least one mark. */
static uint32_t half_of(const molt_area_t *a)
{
    molt_sector_t sec;
    uint32_t h = a->size / 2u;
    if (a->write_align == 0u || a->write_align > UNIT_MAX || h == 0u || a->size % 2u != 0u ||
        a->sector(a->ctx, h, &sec) != MOLT_OK || sec.off != h || h < hdr_len(a) + unit_of(a))
        return 0u;
    return h;
}

static uint32_t marks_of(const molt_area_t *a) { return (half_of(a) - hdr_len(a)) / unit_of(a); }

static molt_err_t read_rec(const molt_area_t *a, uint32_t half, st_rec_t *r)
{
    uint8_t h[ST_HDR];
    molt_err_t e = a->read(a->ctx, half * half_of(a), h, sizeof h);
    r->valid = false;
    if (e != MOLT_OK)
        return e;
    if (h[0] != ST_MAGIC || h[1] != ST_VERSION || (h[2] & (uint8_t)~(ST_F_RECOVERY | ST_F_PENDING)) != 0u ||
        le32(h + ST_CRC_OFF) != molt_crc32(h, ST_CRC_OFF))
        return MOLT_OK;
    r->valid = true;
    r->half = half;
    r->seq = le32(h + 4);
    r->deadline = le32(h + 8);
    r->boot_limit = le32(h + 12);
    r->base = le32(h + 16);
    r->recovery = (h[2] & ST_F_RECOVERY) != 0u;
    r->pending = (h[2] & ST_F_PENDING) != 0u;
    r->entry.major = h[20];
    r->entry.minor = h[21];
    r->entry.revision = (uint16_t)(h[22] | (h[23] << 8));
    r->entry.build = le32(h + 24);
    return MOLT_OK;
}

/* The record in force: the valid header with the higher sequence number. */
static molt_err_t current(const molt_area_t *a, st_rec_t *r)
{
    st_rec_t h0, h1;
    molt_err_t e;
    if (half_of(a) == 0u)
        return MOLT_E_LAYOUT;
    if ((e = read_rec(a, 0, &h0)) != MOLT_OK || (e = read_rec(a, 1, &h1)) != MOLT_OK)
        return e;
    if (h0.valid && (!h1.valid || (int32_t)(h0.seq - h1.seq) > 0))
        *r = h0;
    else
        *r = h1;
    return r->valid ? MOLT_OK : MOLT_E_STATE;
}

/* Marks written after the header of r (a partly programmed unit counts). */
static molt_err_t marks_written(const molt_area_t *a, const st_rec_t *r, uint32_t *n)
{
    uint8_t buf[UNIT_MAX];
    uint32_t u = unit_of(a), base = r->half * half_of(a) + hdr_len(a);
    *n = 0;
    for (uint32_t k = 0; k < marks_of(a); k++) {
        molt_err_t e = a->read(a->ctx, base + k * u, buf, u);
        if (e != MOLT_OK)
            return e;
        bool blank = true;
        for (uint32_t i = 0; i < u; i++)
            blank = blank && buf[i] == a->erase_value;
        if (blank)
            return MOLT_OK;
        *n = k + 1u;
    }
    return MOLT_OK;
}

/* Write next into the half cur does not occupy (cur may be invalid). */
static molt_err_t begin(const molt_area_t *a, const st_rec_t *cur, st_rec_t *next)
{
    uint8_t buf[((ST_HDR + UNIT_MAX - 1u) / UNIT_MAX) * UNIT_MAX];
    uint32_t hs = half_of(a), len = hdr_len(a);
    molt_err_t e;
    next->half = cur->valid ? 1u - cur->half : 0u;
    next->seq = cur->valid ? cur->seq + 1u : 1u;
    if ((e = molt_area_erase_range(a, next->half * hs, hs)) != MOLT_OK)
        return e;
    memset(buf, a->erase_value, len);
    buf[0] = ST_MAGIC;
    buf[1] = ST_VERSION;
    buf[2] = (uint8_t)((next->recovery ? ST_F_RECOVERY : 0u) | (next->pending ? ST_F_PENDING : 0u));
    buf[3] = 0;
    put32(buf + 4, next->seq);
    put32(buf + 8, next->deadline);
    put32(buf + 12, next->boot_limit);
    put32(buf + 16, next->base);
    buf[20] = next->entry.major;
    buf[21] = next->entry.minor;
    buf[22] = (uint8_t)next->entry.revision;
    buf[23] = (uint8_t)(next->entry.revision >> 8);
    put32(buf + 24, next->entry.build);
    put32(buf + ST_CRC_OFF, molt_crc32(buf, ST_CRC_OFF));
    if ((e = a->write(a->ctx, next->half * hs, buf, len)) != MOLT_OK)
        return e;
    next->valid = true;
    return MOLT_OK;
}

molt_err_t molt_awdt_load(const molt_area_t *a, molt_awdt_state_t *st, uint32_t *boots)
{
    st_rec_t r;
    uint32_t n = 0;
    molt_err_t e;
    if (a == NULL || st == NULL || boots == NULL)
        return MOLT_E_ARG;
    if ((e = current(a, &r)) != MOLT_OK || (e = marks_written(a, &r, &n)) != MOLT_OK)
        return e;
    st->deadline = r.deadline;
    st->boot_limit = r.boot_limit;
    st->recovery = r.recovery;
    st->entry = r.entry;
    st->pending = r.pending;
    *boots = r.base + n;
    return MOLT_OK;
}

molt_err_t molt_awdt_provision(const molt_area_t *a, uint32_t deadline, uint32_t boot_limit)
{
    st_rec_t cur, next = {false, 0, 0, deadline, boot_limit, 0, false, {0, 0, 0, 0}, false};
    if (a == NULL)
        return MOLT_E_ARG;
    molt_err_t e = current(a, &cur);
    if (e == MOLT_OK)
        return MOLT_E_STATE; /* provisioned once: never reset */
    if (e != MOLT_E_STATE)
        return e;
    return begin(a, &cur, &next);
}

/* Count one boot: a mark after the header in force, or a new header carrying
 * the count when the half is full. *r receives the record in force after it. */
static molt_err_t count(const molt_area_t *a, st_rec_t *r, uint32_t *boots)
{
    uint32_t n = 0;
    uint8_t buf[UNIT_MAX];
    molt_err_t e;
    if ((e = current(a, r)) != MOLT_OK || (e = marks_written(a, r, &n)) != MOLT_OK)
        return e;
    if (n == marks_of(a)) { /* half full: carry the count into a new header */
        st_rec_t next = *r;
        next.base = r->base + n;
        if ((e = begin(a, r, &next)) != MOLT_OK)
            return e;
        *r = next;
        n = 0;
    }
    memset(buf, a->erase_value == 0u ? 0xffu : 0u, unit_of(a));
    if ((e = a->write(a->ctx, r->half * half_of(a) + hdr_len(a) + n * unit_of(a), buf, unit_of(a))) != MOLT_OK)
        return e;
    *boots = r->base + n + 1u;
    return MOLT_OK;
}

molt_err_t molt_awdt_count_boot(const molt_area_t *a, uint32_t *boots)
{
    st_rec_t r;
    if (a == NULL || boots == NULL)
        return MOLT_E_ARG;
    return count(a, &r, boots);
}

molt_err_t molt_awdt_store(const molt_area_t *a, const molt_awdt_state_t *st)
{
    st_rec_t r;
    uint32_t n = 0;
    molt_err_t e;
    if (a == NULL || st == NULL)
        return MOLT_E_ARG;
    if ((e = current(a, &r)) != MOLT_OK || (e = marks_written(a, &r, &n)) != MOLT_OK)
        return e;
    st_rec_t next = {false, 0, 0, st->deadline > r.deadline ? st->deadline : r.deadline,
                     st->boot_limit > r.boot_limit ? st->boot_limit : r.boot_limit, r.base + n, st->recovery,
                     st->entry, st->recovery && st->pending};
    return begin(a, &r, &next);
}

molt_err_t molt_awdt_accept(const molt_area_t *a, const molt_awdt_policy_t *pol, molt_awdt_state_t *st,
                            const uint8_t *ticket, size_t len, uint32_t now)
{
    if (a == NULL || st == NULL)
        return MOLT_E_ARG;
    molt_awdt_state_t next = *st;
    molt_err_t e = molt_awdt_ticket_check(pol, &next, ticket, len, now);
    if (e == MOLT_OK && (e = molt_awdt_store(a, &next)) == MOLT_OK)
        *st = next;
    return e;
}

/* The state after this boot's count (r, boots) at device time now: latch
 * recovery on the first recovery boot, leave it for an approved image. *next
 * is what to store, when the function returns true.
 *
 * Which images may leave recovery is bound to what ran, never to what the
 * application wrote: the entry boot's image is the application's (it may be a
 * trial the application requested), and so is every image that runs confirmed
 * in recovery without having been activated there (a revert's target above
 * all): entry rises to the highest of them. An approved image is one a latched
 * recovery boot activated - only the updater runs in recovery, so only it can
 * have requested that activation - above entry: for good (leave now), or for a
 * trial (pending: leave when it runs confirmed; a revert clears it). */
static bool decide(const molt_awdt_cfg_t *c, const molt_image_t *run, unsigned how, const st_rec_t *r,
                   uint32_t now, uint32_t boots, st_rec_t *next, bool *recovery)
{
    molt_awdt_state_t st;
    bool confirmed = (how & MOLT_AWDT_RUN_CONFIRMED) != 0u, activated = (how & MOLT_AWDT_RUN_ACTIVATED) != 0u;
    st.deadline = r->deadline;
    st.boot_limit = r->boot_limit;
    *next = *r;
    next->base = boots; /* this boot's mark is counted: the new header carries it */
    *recovery = molt_awdt_expired(&st, now, boots);
    if (!*recovery)
        return false;
    if (!r->recovery) { /* entry: remember what ran */
        next->recovery = true;
        next->entry = run->version;
        next->pending = false;
        return true;
    }
    bool above = molt_version_cmp(&run->version, &r->entry) > 0;
    bool exits = c->exit_seconds != 0u && c->exit_boots != 0u;
    if (!confirmed) { /* a trial: pending when this latched boot activated it above entry */
        next->pending = r->pending || (activated && above);
        return next->pending != r->pending;
    }
    if (!(above && (activated || r->pending) && exits)) {
        /* the application's image (or a port that leaves through tickets only):
         * no later image leaves recovery unless it is above this one */
        next->pending = false;
        if (above)
            next->entry = run->version;
        return above || r->pending;
    }
    /* An approved image: leave recovery. Never lowers a limit. */
    uint32_t dl = now + c->exit_seconds < now ? UINT32_MAX : now + c->exit_seconds;
    uint32_t bl = boots + c->exit_boots < boots ? UINT32_MAX : boots + c->exit_boots;
    next->deadline = dl > r->deadline ? dl : r->deadline;
    next->boot_limit = bl > r->boot_limit ? bl : r->boot_limit;
    next->recovery = false;
    next->pending = false;
    st.deadline = next->deadline;
    st.boot_limit = next->boot_limit;
    *recovery = molt_awdt_expired(&st, now, boots);
    return true;
}

molt_err_t molt_awdt_boot(const molt_awdt_cfg_t *c, const molt_image_t *run, unsigned how, bool *recovery,
                          uint32_t *boots)
{
    st_rec_t r, next;
    uint32_t now;
    bool rec = true;
    molt_err_t e;
    if (recovery == NULL || boots == NULL)
        return MOLT_E_ARG;
    *recovery = true;
    *boots = 0;
    if (c == NULL || c->area == NULL || run == NULL)
        return MOLT_E_ARG;
    if ((e = count(c->area, &r, boots)) != MOLT_OK)
        return e;
    now = c->now != NULL ? c->now(c->ctx) : 0u;
    if (decide(c, run, how, &r, now, *boots, &next, &rec)) {
        /* A cut here leaves r in force: the next boot counts again and decides again. */
        if ((e = begin(c->area, &r, &next)) != MOLT_OK)
            return e;
        r = next;
    }
    *recovery = rec;
    if (c->arm != NULL)
        c->arm(c->ctx, rec ? 0u : r.deadline - now);
    return MOLT_OK;
}
