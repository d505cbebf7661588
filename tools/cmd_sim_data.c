/*
 * cmd_sim_data.c - `molt sim` and the device's application with its records
 * (R-KEEPDATA, molt/keepdata.h): request, confirm, put, get, del, records.
 *
 * A device created with --data-sectors N has a record store. Application 1 is
 * "the device's application": request saves its records (refusing an image
 * whose schema TLV cannot migrate them, KEEP_SCHEMA), boot runs
 * molt_keep_boot() after the boot code (cmd_sim_boot.c), confirm consolidates.
 * Its built-in migration from schema P to N > P rewrites every value V as
 * "sN|" + V (an earlier "sK|" prefix replaced).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_sim.h"
#include "../lib/area.h" /* molt_area_source: the staged image, read where the boot code reads it */

/* Schema P -> N (N > P): every value V becomes "sN|" + V without an earlier "sK|". */
static molt_err_t sim_migrate(void *ctx, const molt_store_app_t *h, uint16_t prev, uint16_t next)
{
    uint16_t ids[64], id, len;
    uint32_t n = 0, cur = 0;
    bool more = true;
    molt_err_t err;

    (void)ctx;
    if (next <= prev)
        return MOLT_OK;
    while ((err = molt_store_app_next(h, &cur, &id, &len, &more)) == MOLT_OK && more && n < 64)
        ids[n++] = id;
    if (err != MOLT_OK)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t v[MOLT_STORE_VALUE_MAX], out[MOLT_STORE_VALUE_MAX + 8];
        size_t vl = 0, skip = 0;
        if ((err = molt_store_get(h, ids[i], v, sizeof v, &vl)) != MOLT_OK)
            return err;
        if (vl > 1 && v[0] == 's') {
            size_t j = 1;
            while (j < vl && v[j] >= '0' && v[j] <= '9')
                j++;
            if (j > 1 && j < vl && v[j] == '|')
                skip = j + 1;
        }
        int hn = snprintf((char *)out, sizeof out, "s%u|", (unsigned)next);
        size_t ol = (size_t)hn + vl - skip;
        if (ol > MOLT_STORE_VALUE_MAX)
            ol = MOLT_STORE_VALUE_MAX;
        memcpy(out + hn, v + skip, ol - (size_t)hn);
        if ((err = molt_store_put(h, ids[i], out, ol)) != MOLT_OK)
            return err;
    }
    return MOLT_OK;
}

bool sim_data_open(sim_device_t *dev, const molt_boot_cfg_t *cfg, sim_data_t *d, const char *file)
{
    static const molt_keep_ops_t ops = {NULL, NULL, sim_migrate, NULL, NULL};
    molt_err_t e;
    memset(d, 0, sizeof *d);
    if (sim_device_data_area(dev) == NULL)
        return true;
    if ((e = molt_store_mount(&d->st, sim_device_data_area(dev))) != MOLT_OK ||
        (e = molt_keep_init(&d->keep, &d->st, SIM_APP, &dev->port, cfg, &ops)) != MOLT_OK) {
        host_error("%s: record store: %s", file, molt_err_str(e));
        return false;
    }
    d->on = true;
    return true;
}

const char *sim_phase_name(uint8_t p)
{
    switch (p) {
    case MOLT_KEEP_NONE: return "none";
    case MOLT_KEEP_DONE: return "completed";
    case MOLT_KEEP_SAVED: return "saved (waiting for the new code)";
    case MOLT_KEEP_SAVING: return "saving";
    case MOLT_KEEP_RESTORING: return "restoring";
    case MOLT_KEEP_CONSOLIDATING: return "consolidating";
    case MOLT_KEEP_TRIAL: return "trial (data migrated)";
    case MOLT_KEEP_RECOVERED: return "recovered (old code, old data)";
    }
    return "?";
}

const char *sim_keep_action_name(molt_keep_action_t a)
{
    switch (a) {
    case MOLT_KEEP_ACT_NONE: return "kept";
    case MOLT_KEEP_ACT_MIGRATED: return "migrated";
    case MOLT_KEEP_ACT_CONSOLIDATED: return "consolidated";
    case MOLT_KEEP_ACT_RESTORED: return "restored";
    case MOLT_KEEP_ACT_DROPPED: return "kept (upgrade dropped)";
    }
    return "?";
}

/* --- request / confirm ------------------------------------------------------- */

/* The data step before a request (save; an image that cannot migrate it is
 * refused) or before a confirm (only migrated data may be accepted). */
static molt_err_t data_before(sim_device_t *dev, const molt_boot_cfg_t *cfg, sim_data_t *data, bool confirm)
{
    if (!data->on)
        return MOLT_OK;
    if (confirm)
        return molt_keep_accept_check(&data->keep);
    molt_area_src_t sctx;
    molt_source_t src;
    molt_area_source(&src, &sctx, &dev->port.area[MOLT_AREA_SECONDARY], molt_boot_staging_offset(&dev->port, cfg));
    return molt_keep_save(&data->keep, &src);
}

static void app_report(const sim_opts_t *o, bool confirm, bool data_on)
{
    const char *data = !data_on ? NULL : confirm ? "consolidated" : "saved";
    if (o->json) {
        json_t *j = json_pack("{s:s,s:s}", "file", o->file, "done",
                              confirm ? "confirmed" : o->permanent ? "permanent" : "test");
        json_object_set_new(j, "data", data ? json_string(data) : json_null());
        sim_print_json(j);
        return;
    }
    printf("%s: %s%s%s\n", o->file,
           confirm ? "confirmed" : o->permanent ? "permanent upgrade requested" : "test upgrade requested",
           data ? ", data " : "", data ? data : "");
}

static int sim_app(const sim_opts_t *o, bool confirm)
{
    sim_device_t dev;
    sim_data_t data;
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    if (!sim_data_open(&dev, &cfg, &data, o->file)) {
        sim_device_free(&dev);
        return EXIT_USAGE;
    }
    molt_err_t e = data_before(&dev, &cfg, &data, confirm);
    if (e == MOLT_OK)
        e = confirm ? molt_confirm(&dev.port, &cfg) : molt_request_upgrade(&dev.port, &cfg, o->permanent);
    if (e == MOLT_OK && data.on && confirm)
        e = molt_keep_consolidate(&data.keep);
    int rc = 0;
    if (e != MOLT_OK) {
        host_error("%s: %s [%s]", o->file, molt_err_str(e), molt_err_name(e));
        if (o->json)
            sim_print_json(sim_error_json(e));
        rc = EXIT_INVALID;
        if (e != MOLT_E_KEEP_SCHEMA && e != MOLT_E_KEEP_PHASE && !sim_dev_save(&dev, o->file))
            rc = EXIT_USAGE; /* flash changed before the failure: keep it */
    } else if (!sim_dev_save(&dev, o->file)) {
        rc = EXIT_USAGE;
    } else {
        app_report(o, confirm, data.on);
    }
    sim_device_free(&dev);
    return rc;
}

int sim_request(sim_opts_t *o) { return sim_app(o, false); }
int sim_confirm(sim_opts_t *o) { return sim_app(o, true); }

/* --- put / get / del ------------------------------------------------------------ */

static bool printable(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    return true;
}

/* {"app", "id", "len", "hex", "text" (printable values only)} */
static json_t *record_json(uint32_t app, uint32_t id, const uint8_t *v, size_t len)
{
    char hex[2 * MOLT_STORE_VALUE_MAX + 1];
    host_hex(v, len, hex);
    json_t *j = json_pack("{s:I,s:I,s:I,s:s}", "app", (json_int_t)app, "id", (json_int_t)id, "len", (json_int_t)len,
                          "hex", hex);
    if (printable(v, len))
        json_object_set_new(j, "text", json_stringn((const char *)v, len));
    return j;
}

/* VALUE: text, or 0x + hex. */
static bool parse_value(const char *val, uint8_t *v, size_t *len)
{
    if (!strncmp(val, "0x", 2)) {
        if (!host_parse_hex(val + 2, v, MOLT_STORE_VALUE_MAX, len)) {
            host_error("%s: not hex of at most %u bytes", val, MOLT_STORE_VALUE_MAX);
            return false;
        }
    } else if ((*len = strlen(val)) > MOLT_STORE_VALUE_MAX) {
        host_error("value of %zu bytes: at most %u", *len, MOLT_STORE_VALUE_MAX);
        return false;
    } else {
        memcpy(v, val, *len);
    }
    return true;
}

/* The operation itself, through application --app's own handle. */
static molt_err_t record_op(const sim_opts_t *o, sim_data_t *data, char op, uint8_t *v, size_t *len)
{
    molt_store_app_t h;
    molt_keep_state_t ks;
    uint16_t schema = 0;
    molt_err_t e = molt_store_app_open(&h, &data->st, (uint16_t)o->app);
    if (e == MOLT_OK && op != 'g' && o->app == SIM_APP && molt_keep_status(&data->keep, &ks, &schema) == MOLT_OK &&
        (ks.phase == MOLT_KEEP_SAVED || ks.phase == MOLT_KEEP_SAVING))
        data->st.frozen_app = SIM_APP; /* saved for an upgrade: frozen until the new code runs */
    if (e != MOLT_OK)
        return e;
    return op == 'p'   ? molt_store_put(&h, (uint16_t)o->id, v, *len)
           : op == 'd' ? molt_store_del(&h, (uint16_t)o->id)
                       : molt_store_get(&h, (uint16_t)o->id, v, MOLT_STORE_VALUE_MAX, len);
}

static void record_report(const sim_opts_t *o, char op, const uint8_t *v, size_t len)
{
    if (o->json && op == 'd') {
        sim_print_json(json_pack("{s:I,s:I,s:s}", "app", (json_int_t)o->app, "id", (json_int_t)o->id, "done",
                                 "deleted"));
    } else if (o->json) {
        json_t *j = record_json((uint32_t)o->app, (uint32_t)o->id, v, len);
        if (op == 'p')
            json_object_set_new(j, "done", json_string("written"));
        sim_print_json(j);
    } else if (op != 'g') {
        printf("%s: app %llu record %llu %s\n", o->file, (unsigned long long)o->app, (unsigned long long)o->id,
               op == 'p' ? "written" : "deleted");
    } else if (printable(v, len)) {
        fwrite(v, 1, len, stdout);
        printf("\n");
    } else {
        char hex[2 * MOLT_STORE_VALUE_MAX + 1];
        host_hex(v, len, hex);
        printf("0x%s\n", hex);
    }
}

/* put / get / del: application --app's LIVE records, through its own handle
 * (get prints text, or 0x + hex when not printable). */
int sim_record(sim_opts_t *o)
{
    sim_device_t dev;
    sim_data_t data;
    uint8_t v[MOLT_STORE_VALUE_MAX];
    size_t len = 0;
    int rc = 0;
    char op = o->sub[0]; /* p(ut), g(et), d(el) */

    if (!o->has_id)
        return host_error("--id N is required");
    if ((op == 'p') != (o->nargs == 1))
        return host_error("put takes one VALUE, get and del none");
    if (op == 'p' && !parse_value(o->args[0], v, &len))
        return EXIT_USAGE;
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    if (!sim_data_open(&dev, &cfg, &data, o->file)) {
        sim_device_free(&dev);
        return EXIT_USAGE;
    }
    if (!data.on) {
        sim_device_free(&dev);
        return host_error("%s: no data area (molt sim create --data-sectors N)", o->file);
    }
    molt_err_t e = record_op(o, &data, op, v, &len);
    if (e != MOLT_OK) {
        host_error("%s: app %llu record %llu: %s [%s]", o->file, (unsigned long long)o->app,
                  (unsigned long long)o->id, molt_err_str(e), molt_err_name(e));
        if (o->json)
            sim_print_json(sim_error_json(e));
        rc = EXIT_INVALID;
    } else if (op != 'g' && !sim_dev_save(&dev, o->file)) {
        rc = EXIT_USAGE;
    } else {
        record_report(o, op, v, len);
    }
    sim_device_free(&dev);
    return rc;
}

/* --- records ------------------------------------------------------------------------ */

/* Every record of the store (all spaces) into arr. */
static molt_err_t records_json(sim_data_t *data, json_t *arr)
{
    static const char *const spaces[] = {"live", "saved", "system"};
    uint32_t cur = 0;
    bool more = true;
    molt_store_rec_t r;
    molt_err_t e;
    while ((e = molt_store_next(&data->st, &cur, &r, &more)) == MOLT_OK && more) {
        uint8_t v[MOLT_STORE_VALUE_MAX];
        if ((e = molt_store_read_value(&data->st, &r, v, sizeof v)) != MOLT_OK)
            break;
        json_t *j = json_pack("{s:s}", "space", spaces[r.space % 3]), *rj = record_json(r.app, r.id, v, r.len);
        json_object_update(j, rj);
        json_decref(rj);
        json_array_append_new(arr, j);
    }
    return e;
}

static void records_print(const json_t *root)
{
    size_t i;
    json_t *j;
    printf("app %u: schema %lld, upgrade phase %s; %lld of %lld bytes used\n", SIM_APP,
           (long long)json_integer_value(json_object_get(root, "schema")),
           json_string_value(json_object_get(root, "phase")),
           (long long)json_integer_value(json_object_get(root, "bytes_used")),
           (long long)json_integer_value(json_object_get(root, "bytes_capacity")));
    json_array_foreach(json_object_get(root, "records"), i, j) {
        const char *t = json_string_value(json_object_get(j, "text"));
        printf("%-6s app %lld id %lld (%lld bytes): %s%s%s\n", json_string_value(json_object_get(j, "space")),
               (long long)json_integer_value(json_object_get(j, "app")),
               (long long)json_integer_value(json_object_get(j, "id")),
               (long long)json_integer_value(json_object_get(j, "len")), t ? "\"" : "0x",
               t ? t : json_string_value(json_object_get(j, "hex")), t ? "\"" : "");
    }
}

/* Every live record of the store (all spaces), the phase and schema of app 1. */
int sim_records(sim_opts_t *o)
{
    sim_device_t dev;
    sim_data_t data;
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    if (!sim_data_open(&dev, &cfg, &data, o->file) || !data.on) {
        sim_device_free(&dev);
        return data.on ? EXIT_USAGE : host_error("%s: no data area (molt sim create --data-sectors N)", o->file);
    }
    molt_keep_state_t ks;
    uint16_t schema = 0;
    uint32_t used = 0, cap = 0;
    molt_err_t e;
    json_t *root = NULL, *arr = json_array();
    if ((e = molt_keep_status(&data.keep, &ks, &schema)) == MOLT_OK &&
        (e = molt_store_usage(&data.st, &used, &cap)) == MOLT_OK)
        e = records_json(&data, arr);
    int rc = 0;
    if (e != MOLT_OK) {
        host_error("%s: record store: %s", o->file, molt_err_str(e));
        rc = EXIT_INVALID;
        json_decref(arr);
    } else {
        root = json_pack("{s:I,s:s,s:I,s:I,s:I,s:o}", "schema", (json_int_t)schema, "phase",
                         sim_phase_name(ks.phase), "phase_value", (json_int_t)ks.phase, "bytes_used",
                         (json_int_t)used, "bytes_capacity", (json_int_t)cap, "records", arr);
        if (o->json) {
            sim_print_json(root);
        } else {
            records_print(root);
            json_decref(root);
        }
    }
    sim_device_free(&dev);
    return rc;
}
