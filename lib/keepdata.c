/*
 * keepdata.c - the data-preserving upgrade (molt/keepdata.h, docs/store.md).
 *
 * SYSTEM records of application A in the store:
 *   id 1  schema: the device's data schema for A (LE16);
 *   id 2  phase:  phase, 0, prev (LE16), next (LE16), 0 (LE16),
 *                 old image hash (32), new image hash (32).
 * Every phase change that moves data is one compaction (lib/store_int.h) that
 * writes the new phase record in the same commit; the phase changes that move
 * no data (SAVING, TRIAL, CONSOLIDATING) are single appends. Identity: the
 * first 32 bytes of an image's hash TLV, which the boot code has checked
 * against the image before it runs it.
 */
#include <string.h>

#include "molt/keepdata.h"
#include "store_int.h"
#include "trailer.h" /* molt_area_source */

#define ID_SCHEMA 1u
#define ID_PHASE 2u
#define PHASE_LEN (8u + 2u * MOLT_KEEP_HASH)

enum side { SIDE_OLD, SIDE_NEW, SIDE_OTHER };

/* --- image facts --------------------------------------------------------------- */

static molt_err_t image_hash(const molt_source_t *src, uint8_t out[MOLT_KEEP_HASH])
{
    molt_image_t img;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more = true;
    molt_err_t err;

    if ((err = molt_image_parse(src, &img)) != MOLT_OK)
        return err;
    molt_tlv_iter_init(&it, src, &img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (!t.prot && (t.type == MOLT_TLV_SHA256 || t.type == MOLT_TLV_SHA384 || t.type == MOLT_TLV_SHA512) &&
            t.len >= MOLT_KEEP_HASH) {
            molt_tlv_t head = t;
            head.len = MOLT_KEEP_HASH;
            return molt_tlv_read(src, &head, out, MOLT_KEEP_HASH);
        }
    }
    return err != MOLT_OK ? err : MOLT_E_HASH_MISSING;
}

molt_err_t molt_keep_image_schema(const molt_source_t *src, uint16_t app, uint16_t *schema, uint16_t *from)
{
    molt_image_t img;
    molt_tlv_iter_t it;
    molt_tlv_t t;
    bool more = true;
    uint8_t v[8];
    molt_err_t err;

    if (src == NULL || schema == NULL || from == NULL)
        return MOLT_E_ARG;
    if ((err = molt_image_parse(src, &img)) != MOLT_OK)
        return err;
    molt_tlv_iter_init(&it, src, &img);
    while ((err = molt_tlv_next(&it, &t, &more)) == MOLT_OK && more) {
        if (!t.prot || t.type != MOLT_TLV_DATA_SCHEMA)
            continue; /* only the signed area counts */
        if (t.len != sizeof v)
            return MOLT_E_TLV_LENGTH;
        if ((err = molt_tlv_read(src, &t, v, sizeof v)) != MOLT_OK)
            return err;
        if (molt_le16(v) == app) {
            *schema = molt_le16(v + 2);
            *from = molt_le16(v + 4);
            return *from <= *schema ? MOLT_OK : MOLT_E_TLV_LENGTH;
        }
    }
    return err != MOLT_OK ? err : MOLT_E_STORE_NOT_FOUND;
}

/* The image the application runs: PRIMARY in the modes FWU supports, or the
 * slot this boot chose. */
static void running_src(const molt_keep_t *k, uint32_t slot, molt_source_t *src, molt_area_src_t *ctx)
{
    molt_area_source(src, ctx, &k->port->area[slot < 2u ? slot : MOLT_AREA_PRIMARY], 0);
}

/* --- records ------------------------------------------------------------------- */

static molt_err_t state_get(molt_keep_t *k, molt_keep_state_t *s)
{
    uint8_t v[PHASE_LEN];
    size_t n = 0;
    molt_err_t err;

    memset(s, 0, sizeof *s);
    err = molt_store_get_raw(k->st, MOLT_STORE_SYSTEM, k->app.app, ID_PHASE, v, sizeof v, &n);
    if (err == MOLT_E_STORE_NOT_FOUND)
        return MOLT_OK;
    if (err != MOLT_OK)
        return err;
    if (n != PHASE_LEN)
        return MOLT_E_IO;
    s->phase = v[0];
    s->prev = molt_le16(v + 2);
    s->next = molt_le16(v + 4);
    memcpy(s->old_hash, v + 8, MOLT_KEEP_HASH);
    memcpy(s->new_hash, v + 8 + MOLT_KEEP_HASH, MOLT_KEEP_HASH);
    return MOLT_OK;
}

static void state_enc(const molt_keep_state_t *s, uint8_t v[PHASE_LEN])
{
    memset(v, 0, PHASE_LEN);
    v[0] = s->phase;
    molt_put_le16(v + 2, s->prev);
    molt_put_le16(v + 4, s->next);
    memcpy(v + 8, s->old_hash, MOLT_KEEP_HASH);
    memcpy(v + 8 + MOLT_KEEP_HASH, s->new_hash, MOLT_KEEP_HASH);
}

/* Append the phase record (a phase change that moves no data). */
static molt_err_t state_put(molt_keep_t *k, const molt_keep_state_t *s)
{
    uint8_t v[PHASE_LEN];
    state_enc(s, v);
    return molt_store_put_raw(k->st, MOLT_STORE_SYSTEM, k->app.app, ID_PHASE, v, PHASE_LEN);
}

/* One compaction: flags on the application's records, the phase record and
 * (schema != NULL) the schema record, in one commit. */
static molt_err_t commit(molt_keep_t *k, uint32_t flags, const molt_keep_state_t *s, const uint16_t *schema)
{
    uint8_t v[PHASE_LEN], sv[2];
    molt_store_extra_t x[2];
    uint32_t n = 1;

    state_enc(s, v);
    x[0] = (molt_store_extra_t){MOLT_STORE_SYSTEM, k->app.app, ID_PHASE, v, PHASE_LEN};
    if (schema != NULL) {
        molt_put_le16(sv, *schema);
        x[n++] = (molt_store_extra_t){MOLT_STORE_SYSTEM, k->app.app, ID_SCHEMA, sv, 2};
    }
    return molt_store_compact(k->st, k->app.app, flags, x, n);
}

static molt_err_t schema_get(molt_keep_t *k, uint16_t *schema, bool *have)
{
    uint8_t v[2];
    size_t n = 0;
    molt_err_t err = molt_store_get_raw(k->st, MOLT_STORE_SYSTEM, k->app.app, ID_SCHEMA, v, sizeof v, &n);

    *schema = 0;
    *have = false;
    if (err == MOLT_E_STORE_NOT_FOUND)
        return MOLT_OK;
    if (err != MOLT_OK)
        return err;
    if (n != 2u)
        return MOLT_E_IO;
    *schema = molt_le16(v);
    *have = true;
    return MOLT_OK;
}

/* Outside a session: does the running code use the data's schema? Code that
 * declares another one was activated without a save (a request outside the
 * update API, or the old side of such an activation), so nothing was migrated:
 * MOLT_E_KEEP_SCHEMA, nothing touched. (The life proof found new code silently
 * running on unmigrated data here.) */
static molt_err_t same_schema(molt_keep_t *k, const molt_source_t *src, bool have, uint16_t schema)
{
    uint16_t tlv, from;
    uint16_t decl = molt_keep_image_schema(src, k->app.app, &tlv, &from) == MOLT_OK ? tlv : 0u;
    return have && decl != schema ? MOLT_E_KEEP_SCHEMA : MOLT_OK;
}

/* --- steps --------------------------------------------------------------------- */

molt_err_t molt_keep_init(molt_keep_t *k, molt_store_t *st, uint16_t app, const molt_port_t *port,
                          const molt_boot_cfg_t *cfg, const molt_keep_ops_t *ops)
{
    molt_err_t err;

    if (k == NULL || st == NULL || port == NULL || cfg == NULL)
        return MOLT_E_ARG;
    memset(k, 0, sizeof *k);
    if ((err = molt_store_app_open(&k->app, st, app)) != MOLT_OK)
        return err;
    k->st = st;
    k->port = port;
    k->cfg = *cfg;
    k->slot = MOLT_AREA_PRIMARY;
    if (ops != NULL)
        k->ops = *ops;
    return MOLT_OK;
}

/* Migrate (LIVE holds the saved records again), record TRIAL. */
static molt_err_t migrate(molt_keep_t *k, molt_keep_state_t *s)
{
    k->st->frozen_app = 0;
    if (k->ops.restore != NULL && k->ops.restore(k->ops.ctx, &k->app, s->prev, s->next) != MOLT_OK)
        return MOLT_E_KEEP_RESTORE;
    s->phase = MOLT_KEEP_TRIAL;
    return state_put(k, s);
}

/* Consolidate listener, then the snapshot dropped and the new schema kept. */
static molt_err_t consolidate(molt_keep_t *k, molt_keep_state_t *s)
{
    molt_err_t err;

    if (s->phase != MOLT_KEEP_CONSOLIDATING) {
        s->phase = MOLT_KEEP_CONSOLIDATING;
        if ((err = state_put(k, s)) != MOLT_OK)
            return err;
    }
    if (k->ops.consolidate != NULL)
        k->ops.consolidate(k->ops.ctx);
    s->phase = MOLT_KEEP_DONE;
    return commit(k, MOLT_STORE_X_DROP_SNAP, s, &s->next);
}

molt_err_t molt_keep_boot(molt_keep_t *k, const molt_boot_result_t *boot, molt_keep_action_t *did)
{
    molt_keep_action_t dummy;
    molt_keep_state_t s;
    molt_area_src_t ctx;
    molt_source_t src;
    uint8_t h[MOLT_KEEP_HASH];
    uint16_t schema, tlv, from;
    bool have;
    molt_err_t err;

    if (did == NULL)
        did = &dummy;
    *did = MOLT_KEEP_ACT_NONE;
    if (k == NULL || k->st == NULL || boot == NULL)
        return MOLT_E_ARG;
    k->st->frozen_app = 0; /* a reset ends any freeze: the boot below decides */
    k->slot = boot->slot < 2u ? boot->slot : MOLT_AREA_PRIMARY;
    running_src(k, boot->slot, &src, &ctx);
    if ((err = state_get(k, &s)) != MOLT_OK || (err = schema_get(k, &schema, &have)) != MOLT_OK)
        return err;
    if (s.phase == MOLT_KEEP_NONE || s.phase == MOLT_KEEP_DONE || s.phase == MOLT_KEEP_RECOVERED) {
        uint16_t decl = molt_keep_image_schema(&src, k->app.app, &tlv, &from) == MOLT_OK ? tlv : 0u;
        /* First boot with data: the running image's schema is the device's. */
        if (!have && decl != 0u) {
            uint8_t v[2];
            molt_put_le16(v, decl);
            return molt_store_put_raw(k->st, MOLT_STORE_SYSTEM, k->app.app, ID_SCHEMA, v, sizeof v);
        }
        return same_schema(k, &src, have, schema);
    }
    if ((err = image_hash(&src, h)) != MOLT_OK)
        return err;
    enum side side = memcmp(h, s.old_hash, sizeof h) == 0   ? SIDE_OLD
                     : memcmp(h, s.new_hash, sizeof h) == 0 ? SIDE_NEW
                                                            : SIDE_OTHER;
    if (side == SIDE_OTHER) {
        if (s.phase != MOLT_KEEP_SAVING && s.phase != MOLT_KEEP_SAVED)
            return MOLT_E_KEEP_IMAGE; /* LIVE may be migrated: the snapshot waits for the old code */
        /* The data never left LIVE, and the code it was saved for is not the
         * code that runs: the session is void. Keeping it would strand the
         * data when the old code returns under another identity (a save made
         * during a trial that is then reverted - found by the life proof). */
        s.phase = MOLT_KEEP_NONE;
        if ((err = commit(k, MOLT_STORE_X_DROP_SNAP, &s, NULL)) != MOLT_OK)
            return err;
        *did = MOLT_KEEP_ACT_DROPPED;
        return same_schema(k, &src, have, schema);
    }
    if (side == SIDE_OLD) {
        if (s.phase == MOLT_KEEP_SAVING || s.phase == MOLT_KEEP_SAVED) {
            /* The new code never ran: LIVE is the old code's own. */
            s.phase = MOLT_KEEP_NONE;
            if ((err = commit(k, MOLT_STORE_X_DROP_SNAP, &s, NULL)) != MOLT_OK)
                return err;
            *did = MOLT_KEEP_ACT_DROPPED;
        } else {
            /* RESTORING, TRIAL, CONSOLIDATING: the new code touched LIVE. */
            s.phase = MOLT_KEEP_RECOVERED;
            if ((err = commit(k, MOLT_STORE_X_LIVE_FROM_SNAP | MOLT_STORE_X_DROP_SNAP, &s, NULL)) != MOLT_OK)
                return err;
            *did = MOLT_KEEP_ACT_RESTORED;
        }
        /* The old data is back; whether the old code may use it is the same
         * question as without a session (it may itself run unmigrated). */
        return same_schema(k, &src, have, schema);
    }
    /* The new code runs. */
    if (s.phase == MOLT_KEEP_SAVING || s.phase == MOLT_KEEP_SAVED || s.phase == MOLT_KEEP_RESTORING) {
        /* (Re)start the migration from the snapshot: SAVING never took one, so
         * LIVE (untouched by any new code) becomes it. */
        uint32_t fl = s.phase == MOLT_KEEP_SAVING ? MOLT_STORE_X_SNAP_FROM_LIVE : MOLT_STORE_X_LIVE_FROM_SNAP;
        s.phase = MOLT_KEEP_RESTORING;
        if ((err = commit(k, fl, &s, NULL)) != MOLT_OK || (err = migrate(k, &s)) != MOLT_OK)
            return err;
        *did = MOLT_KEEP_ACT_MIGRATED;
    }
    if (s.phase == MOLT_KEEP_TRIAL && boot->trial)
        return MOLT_OK;
    if (s.phase == MOLT_KEEP_TRIAL || s.phase == MOLT_KEEP_CONSOLIDATING) {
        if ((err = consolidate(k, &s)) != MOLT_OK)
            return err;
        *did = MOLT_KEEP_ACT_CONSOLIDATED;
    }
    return MOLT_OK;
}

molt_err_t molt_keep_check(molt_keep_t *k, const molt_source_t *staged)
{
    uint16_t schema, tlv, from;
    bool have;
    molt_err_t err;

    if (k == NULL || staged == NULL)
        return MOLT_E_ARG;
    if ((err = schema_get(k, &schema, &have)) != MOLT_OK)
        return err;
    err = molt_keep_image_schema(staged, k->app.app, &tlv, &from);
    if (err == MOLT_E_STORE_NOT_FOUND)
        return schema == 0u ? MOLT_OK : MOLT_E_KEEP_SCHEMA;
    if (err != MOLT_OK)
        return MOLT_E_KEEP_SCHEMA;
    if (schema != 0u && (schema < from || schema > tlv))
        return MOLT_E_KEEP_SCHEMA;
    return MOLT_OK;
}

molt_err_t molt_keep_save(molt_keep_t *k, const molt_source_t *staged)
{
    molt_keep_state_t s, before;
    molt_area_src_t ctx;
    molt_source_t src;
    uint16_t schema, tlv = 0, from;
    bool have;
    molt_err_t err;

    if (k == NULL || staged == NULL)
        return MOLT_E_ARG;
    if ((err = molt_keep_check(k, staged)) != MOLT_OK || (err = state_get(k, &s)) != MOLT_OK ||
        (err = schema_get(k, &schema, &have)) != MOLT_OK)
        return err;
    if (s.phase == MOLT_KEEP_RESTORING || s.phase == MOLT_KEEP_TRIAL || s.phase == MOLT_KEEP_CONSOLIDATING)
        return MOLT_E_KEEP_PHASE; /* a trial is running: FWU refuses the install too */
    before = s;
    memset(&s, 0, sizeof s);
    running_src(k, k->slot, &src, &ctx); /* the image running now (REMAP: either slot) */
    if ((err = image_hash(&src, s.old_hash)) != MOLT_OK || (err = image_hash(staged, s.new_hash)) != MOLT_OK)
        return err;
    if (memcmp(s.old_hash, s.new_hash, MOLT_KEEP_HASH) == 0)
        return MOLT_OK; /* the same code again: its data stays as it is */
    if (molt_keep_image_schema(staged, k->app.app, &tlv, &from) != MOLT_OK)
        tlv = schema;
    s.prev = schema;
    s.next = tlv;
    s.phase = MOLT_KEEP_SAVING;
    if ((err = state_put(k, &s)) != MOLT_OK)
        return err;
    if (k->ops.save != NULL && k->ops.save(k->ops.ctx, &k->app) != MOLT_OK) {
        /* Back to the phase record found: an upgrade saved before (its request
         * may stand) must survive a failed second save. (It was set to none; the
         * life proof found the first upgrade's new code then running unmigrated.) */
        (void)state_put(k, &before);
        return MOLT_E_KEEP_SAVE;
    }
    if (k->ops.cleanup != NULL)
        k->ops.cleanup(k->ops.ctx);
    s.phase = MOLT_KEEP_SAVED;
    if ((err = commit(k, MOLT_STORE_X_SNAP_FROM_LIVE, &s, NULL)) != MOLT_OK)
        return err;
    k->st->frozen_app = k->app.app;
    return MOLT_OK;
}

/* The recorded phase of k's application (MOLT_E_ARG for no k). */
static molt_err_t state_of(molt_keep_t *k, molt_keep_state_t *s)
{
    return k == NULL ? MOLT_E_ARG : state_get(k, s);
}

molt_err_t molt_keep_accept_check(molt_keep_t *k)
{
    molt_keep_state_t s;
    molt_err_t err;

    if ((err = state_of(k, &s)) != MOLT_OK)
        return err;
    switch (s.phase) {
    case MOLT_KEEP_NONE:
    case MOLT_KEEP_DONE:
    case MOLT_KEEP_RECOVERED:
    case MOLT_KEEP_TRIAL:
    case MOLT_KEEP_CONSOLIDATING: return MOLT_OK;
    default: return MOLT_E_KEEP_PHASE; /* the data is not migrated: accepting would strand it */
    }
}

molt_err_t molt_keep_consolidate(molt_keep_t *k)
{
    molt_keep_state_t s;
    molt_err_t err;

    if ((err = state_of(k, &s)) != MOLT_OK)
        return err;
    if (s.phase != MOLT_KEEP_TRIAL && s.phase != MOLT_KEEP_CONSOLIDATING)
        return MOLT_OK;
    return consolidate(k, &s);
}

molt_err_t molt_keep_abort(molt_keep_t *k)
{
    molt_keep_state_t s;
    molt_err_t err;

    if ((err = state_of(k, &s)) != MOLT_OK)
        return err;
    if (s.phase != MOLT_KEEP_SAVING && s.phase != MOLT_KEEP_SAVED)
        return s.phase == MOLT_KEEP_NONE || s.phase == MOLT_KEEP_DONE || s.phase == MOLT_KEEP_RECOVERED
                   ? MOLT_OK
                   : MOLT_E_KEEP_PHASE;
    s.phase = MOLT_KEEP_NONE;
    if ((err = commit(k, MOLT_STORE_X_DROP_SNAP, &s, NULL)) != MOLT_OK)
        return err;
    k->st->frozen_app = 0;
    return MOLT_OK;
}

molt_err_t molt_keep_status(molt_keep_t *k, molt_keep_state_t *s, uint16_t *schema)
{
    bool have;
    molt_err_t err;

    if (k == NULL || s == NULL || schema == NULL)
        return MOLT_E_ARG;
    if ((err = state_get(k, s)) != MOLT_OK)
        return err;
    return schema_get(k, schema, &have);
}

/* --- FWU hooks ------------------------------------------------------------------- */

static molt_err_t hook_check(void *ctx, const molt_source_t *staged) { return molt_keep_check(ctx, staged); }
static molt_err_t hook_save(void *ctx, const molt_source_t *staged) { return molt_keep_save(ctx, staged); }
static molt_err_t hook_accept_check(void *ctx) { return molt_keep_accept_check(ctx); }
static molt_err_t hook_accepted(void *ctx) { return molt_keep_consolidate(ctx); }
static molt_err_t hook_unstaged(void *ctx) { return molt_keep_abort(ctx); }

void molt_keep_fwu_hooks(molt_keep_t *k, molt_fwu_t *fwu)
{
    if (k == NULL || fwu == NULL)
        return;
    k->hooks = (molt_fwu_keep_hooks_t){hook_check, hook_save, hook_accept_check, hook_accepted, hook_unstaged, k};
    molt_fwu_set_keep(fwu, &k->hooks);
}
