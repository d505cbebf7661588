/*
 * cmd_sim_boot.c - `molt sim boot|state|attest|iak`: the device resets and its
 * boot code runs; what the device holds and what would boot; the attestation
 * token and key (R-ATTEST). JSON fields: docs/sim.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_sim.h"
#include "sim_chain.h"
#include "molt_host/version.h"
#include "molt/attest.h"
#include "../lib/trailer.h" /* read-only trailer decoding, the boot code's own */

const char *sim_action_name(molt_boot_action_t a)
{
    switch (a) {
    case MOLT_ACT_NONE: return "none";
    case MOLT_ACT_UPGRADE_TEST: return "upgrade-test";
    case MOLT_ACT_UPGRADE_PERM: return "upgrade-perm";
    case MOLT_ACT_REVERT: return "revert";
    case MOLT_ACT_REFUSED: return "refused";
    }
    return "?";
}

static json_t *boot_json(molt_err_t e, const molt_boot_result_t *r)
{
    if (e != MOLT_OK)
        return sim_error_json(e);
    return json_pack("{s:s,s:o,s:I,s:b,s:I,s:s,s:b,s:s,s:b,s:I}", "slot", sim_slot_names[r->slot], "version",
                     sim_version_json(&r->image.version), "security_counter",
                     (json_int_t)(r->image.has_sec_cnt ? r->image.sec_cnt : 0), "trial", r->trial, "stored_counter",
                     (json_int_t)r->counter, "action", sim_action_name(r->action), "resumed", r->resumed, "staged",
                     molt_err_name(r->staged_err), "recovery", r->recovery, "boots", (json_int_t)r->boots);
}

/* The English form of boot_json (prefix: "boot" or "would boot"). */
static void boot_print(molt_err_t e, const molt_boot_result_t *r, const char *prefix)
{
    char v[48];
    if (e != MOLT_OK) {
        printf("%s: no verified image (%s): secure state, nothing executed\n", prefix, molt_err_str(e));
        return;
    }
    host_format_version(&r->image.version, v, sizeof v);
    printf("%s: slot %s, version %s, %s, security counter %u, action %s%s", prefix, sim_slot_names[r->slot], v,
           r->trial ? "trial" : "confirmed", (unsigned)r->counter, sim_action_name(r->action),
           r->resumed ? " (resumed)" : "");
    if (r->staged_err != MOLT_OK)
        printf(", staged image refused: %s", molt_err_str(r->staged_err));
    printf("\n");
    if (r->recovery)
        printf("%s: recovery boot %u: only the updater runs (%s)\n", prefix, (unsigned)r->boots,
               r->awdt_err != MOLT_OK ? molt_err_str(r->awdt_err) : "the watchdog's deadline or boot limit passed");
}

/* The application's first act after a boot: resume or recover its data
 * (R-KEEPDATA). NULL without a data area; {"error", ...} on failure (*rc = 1). */
static json_t *boot_data(sim_device_t *dev, const molt_boot_cfg_t *cfg, const molt_boot_result_t *r,
                         const char *file, int *rc)
{
    sim_data_t data;
    if (!sim_data_open(dev, cfg, &data, file)) {
        *rc = EXIT_INVALID;
        return NULL;
    }
    if (!data.on)
        return NULL;
    molt_keep_action_t act = MOLT_KEEP_ACT_NONE;
    molt_keep_state_t ks;
    uint16_t schema = 0;
    molt_err_t ke = molt_keep_boot(&data.keep, r, &act);
    if (ke == MOLT_OK)
        ke = molt_keep_status(&data.keep, &ks, &schema);
    if (ke != MOLT_OK) {
        host_error("%s: data: %s [%s]", file, molt_err_str(ke), molt_err_name(ke));
        *rc = EXIT_INVALID;
        return sim_error_json(ke);
    }
    return json_pack("{s:s,s:I,s:s,s:I}", "action", sim_keep_action_name(act), "schema", (json_int_t)schema,
                     "phase", sim_phase_name(ks.phase), "phase_value", (json_int_t)ks.phase);
}

int sim_boot(sim_opts_t *o)
{
    sim_device_t dev;
    molt_boot_result_t r;

    if (o->kr.ring.count == 0)
        return host_error("-k PUB is required");
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    sim_chain_t *chain = NULL; /* stage 0 first, then this boot with the key set in force */
    if (!sim_chain_open(o->file, &o->kr.ring, &chain) || !sim_chain_boot0(chain, o->json)) {
        int crc = chain != NULL && sim_chain_close(chain, o->file, true) ? EXIT_INVALID : EXIT_USAGE;
        sim_device_free(&dev);
        return crc;
    }
    sim_chain_wire(chain, &cfg);
    memset(&r, 0, sizeof r);
    (void)sim_device_new_boot(&dev); /* a reset: fresh boot seed, no boot record */
    molt_err_t e = molt_boot_go(&dev.port, &cfg, &r);
    if (e == MOLT_OK)
        sim_device_set_boot_slot(&dev, r.slot);
    dev.aw.recovery = e == MOLT_OK && r.recovery;
    int rc = e == MOLT_OK ? 0 : e == MOLT_E_NO_IMAGE ? EXIT_INVALID : EXIT_USAGE;
    if (e != MOLT_OK && e != MOLT_E_NO_IMAGE)
        host_error("%s: %s", o->file, molt_err_str(e));
    json_t *j = boot_json(e, &r), *dj = e == MOLT_OK ? boot_data(&dev, &cfg, &r, o->file, &rc) : NULL;
    if (o->json) {
        if (dj != NULL)
            json_object_set(j, "data", dj);
        sim_chain_report(chain, j);
        sim_print_json(j);
    } else {
        boot_print(e, &r, "boot");
        sim_chain_report(chain, NULL);
        if (dj != NULL && json_object_get(dj, "error") == NULL)
            printf("data: %s, schema %lld, phase %s\n", json_string_value(json_object_get(dj, "action")),
                   (long long)json_integer_value(json_object_get(dj, "schema")),
                   json_string_value(json_object_get(dj, "phase")));
        json_decref(j);
    }
    json_decref(dj);
    if (!sim_chain_close(chain, o->file, true))
        rc = EXIT_USAGE;
    if (!sim_dev_save(&dev, o->file))
        rc = EXIT_USAGE;
    sim_device_free(&dev);
    return rc;
}

/* --- state ------------------------------------------------------------------------ */

static json_t *image_json(const molt_area_t *a, uint32_t base)
{
    molt_area_src_t ctx;
    molt_source_t src;
    molt_image_t img;

    molt_area_source(&src, &ctx, a, base);
    bool found = molt_image_parse(&src, &img) == MOLT_OK;
    if (!found && base != 0) { /* SWAP: after an activation the previous image sits at 0 */
        base = 0;
        molt_area_source(&src, &ctx, a, base);
        found = molt_image_parse(&src, &img) == MOLT_OK;
    }
    if (!found)
        return json_null();
    return json_pack("{s:I,s:o,s:I,s:I}", "offset", (json_int_t)base, "version", sim_version_json(&img.version),
                     "security_counter", (json_int_t)(img.has_sec_cnt ? img.sec_cnt : 0), "size",
                     (json_int_t)img.end);
}

static const char *flag_name(uint8_t flag, uint8_t erased)
{
    return flag == erased ? "unset" : flag == MOLT_FLAG_SET ? "set" : "bad";
}

/* One slot: header facts (parsed, not verified) and trailer fields. */
static json_t *slot_json(sim_device_t *dev, uint32_t id, uint32_t base)
{
    const molt_area_t *a = &dev->port.area[id];
    molt_trailer_t t;
    json_t *j = json_object();

    json_object_set_new(j, "image", image_json(a, base));
    if (molt_tr_read(a, &t) == MOLT_OK)
        json_object_set_new(j, "trailer",
                            json_pack("{s:s,s:s,s:s,s:I}", "magic", t.magic_good ? "good" : "unset", "image_ok",
                                      flag_name(t.image_ok, t.erased), "copy_done", flag_name(t.copy_done, t.erased),
                                      "swap_type", (json_int_t)(t.swap_info == t.erased ? 0 : t.swap_info & 0x0f)));
    return j;
}

static void slot_print(const char *name, const json_t *sj)
{
    const json_t *im = json_object_get(sj, "image"), *tr = json_object_get(sj, "trailer");
    printf("%s: ", name);
    if (json_is_object(im))
        printf("image %s at +0x%llx, security counter %lld, %lld bytes", json_string_value(json_object_get(im, "version")),
               (long long)json_integer_value(json_object_get(im, "offset")),
               (long long)json_integer_value(json_object_get(im, "security_counter")),
               (long long)json_integer_value(json_object_get(im, "size")));
    else
        printf("no image");
    if (json_is_object(tr))
        printf("; trailer magic %s, image_ok %s, copy_done %s, swap_type %lld",
               json_string_value(json_object_get(tr, "magic")), json_string_value(json_object_get(tr, "image_ok")),
               json_string_value(json_object_get(tr, "copy_done")),
               (long long)json_integer_value(json_object_get(tr, "swap_type")));
    printf("\n");
}

static json_t *wear_json(const sim_flash_t *f)
{
    uint64_t erases = 0;
    uint32_t maxw = 0;
    for (uint32_t i = 0; i < sim_flash_sector_count(f); i++) {
        uint32_t w = sim_flash_wear(f, i);
        erases += w;
        maxw = w > maxw ? w : maxw;
    }
    return json_pack("{s:I,s:I}", "erases", (json_int_t)erases, "max_per_sector", (json_int_t)maxw);
}

int sim_state(sim_opts_t *o)
{
    sim_device_t dev;
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_boot_cfg_t cfg = sim_dev_cfg(&dev);
    uint32_t cnt = 0;
    (void)dev.port.nv_read(dev.port.ctx, MOLT_NV_SECURITY_COUNTER, &cnt);
    const char *mode = sim_mode_names[dev.layout.mode % 3];
    json_t *root = json_pack("{s:s,s:I}", "mode", mode, "security_counter", (json_int_t)cnt);
    json_object_set_new(root, "primary", slot_json(&dev, MOLT_AREA_PRIMARY, 0));
    json_object_set_new(root, "secondary",
                        slot_json(&dev, MOLT_AREA_SECONDARY, molt_boot_staging_offset(&dev.port, &cfg)));
    json_object_set_new(root, "wear", wear_json(&dev.flash));
    molt_boot_result_t r;
    memset(&r, 0, sizeof r);
    molt_err_t e = MOLT_OK;
    if (o->kr.ring.count > 0) {
        /* what would boot: run the boot code on this in-memory copy, never saved */
        e = molt_boot_go(&dev.port, &cfg, &r);
        json_object_set_new(root, "would_boot", boot_json(e, &r));
    }
    if (o->json) {
        sim_print_json(root);
    } else {
        printf("mode: %s, security counter: %u\n", mode, (unsigned)cnt);
        for (uint32_t id = 0; id < 2; id++)
            slot_print(sim_slot_names[id], json_object_get(root, sim_slot_names[id]));
        json_t *w = json_object_get(root, "wear");
        printf("wear: %lld erases, at most %lld per sector\n", (long long)json_integer_value(json_object_get(w, "erases")),
               (long long)json_integer_value(json_object_get(w, "max_per_sector")));
        if (o->kr.ring.count > 0)
            boot_print(e, &r, "would boot");
        json_decref(root);
    }
    sim_device_free(&dev);
    return 0;
}

/* --- attestation --------------------------------------------------------------------- */

/* Where the token goes: -o FILE, or hex on stdout; or a JSON object. */
static int attest_report(const sim_opts_t *o, const uint8_t *tok, size_t len)
{
    if (o->out != NULL && !host_write_file(o->out, tok, len))
        return EXIT_USAGE;
    char *hex = o->out == NULL || o->json ? malloc(2 * len + 1) : NULL;
    if ((o->out == NULL || o->json) && hex == NULL)
        return host_error("out of memory");
    if (hex != NULL)
        host_hex(tok, len, hex);
    if (o->json) {
        json_t *j = json_pack("{s:I,s:s}", "bytes", (json_int_t)len, "token", hex);
        if (o->out != NULL)
            json_object_set_new(j, "file", json_string(o->out));
        sim_print_json(j);
    } else if (o->out == NULL) {
        printf("%s\n", hex);
    } else if (strcmp(o->out, "-") != 0) {
        printf("%s: %zu-byte token\n", o->out, len);
    }
    free(hex);
    return 0;
}

/* The application asks for an attestation token (R-ATTEST). The device must
 * have booted (`molt sim boot`): the token reports the slot that boot chose. */
int sim_attest(sim_opts_t *o)
{
    sim_device_t dev;
    uint8_t nonce[256], tok[MOLT_ATTEST_TOKEN_MAX]; /* any length: the device judges it */
    size_t nonce_len = 0, len = 0;
    int rc = 0;

    if (o->nonce == NULL || !host_parse_hex(o->nonce, nonce, sizeof nonce, &nonce_len))
        return host_error("--nonce HEX is required (the challenge, 32, 48 or 64 bytes in hex)");
    if (o->kr.ring.count == 0)
        return host_error("-k PUB is required (the device's trusted signing keys)");
    if (o->json && o->out != NULL && !strcmp(o->out, "-"))
        return host_error("--json with -o -: one of them writes stdout");
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    molt_err_t e = MOLT_OK;
    if (!dev.ks.has_iak) {
        host_error("%s: no attestation key (device file from before attestation: create it again)", o->file);
        e = MOLT_E_ATTEST_KEY;
    } else if (dev.ks.boot_slot < 0) {
        host_error("%s: the device has not booted since its last reset (molt sim boot first)", o->file);
        e = MOLT_E_STATE;
    } else {
        molt_attest_req_t req = {nonce, nonce_len, (int32_t)o->client_id, (uint8_t)dev.ks.boot_slot, sim_dev_cfg(&dev)};
        sim_chain_t *chain = NULL; /* measured with the key set in force (issue 18) */
        if (!sim_chain_open(o->file, &o->kr.ring, &chain)) {
            sim_device_free(&dev);
            return EXIT_USAGE;
        }
        sim_chain_wire(chain, &req.boot);
        if ((e = molt_attest_get_token(&dev.port, &req, tok, sizeof tok, &len)) != MOLT_OK)
            host_error("%s: %s", o->file, molt_err_str(e));
        (void)sim_chain_close(chain, o->file, false);
    }
    if (e != MOLT_OK) {
        rc = EXIT_INVALID;
        if (o->json)
            sim_print_json(sim_error_json(e));
    } else {
        rc = attest_report(o, tok, len);
    }
    sim_device_free(&dev);
    return rc;
}

/* The device's IAK public key (what the deployer registers): PEM to -o or
 * stdout; with --json the point in hex (and the PEM written to -o, if given). */
int sim_iak(sim_opts_t *o)
{
    sim_device_t dev;
    int rc = 0;
    if (o->json && o->out != NULL && !strcmp(o->out, "-"))
        return host_error("--json with -o -: one of them writes stdout");
    if (!sim_dev_load(&dev, o))
        return EXIT_USAGE;
    if (!dev.ks.has_iak) {
        rc = host_error("%s: no attestation key (device file from before attestation: create it again)", o->file);
    } else if ((!o->json || o->out != NULL) && !cli_write_p256_pem(dev.ks.iak_pub, o->out ? o->out : "-")) {
        rc = EXIT_USAGE;
    } else if (o->json) {
        char hex[2 * sizeof dev.ks.iak_pub + 1];
        host_hex(dev.ks.iak_pub, sizeof dev.ks.iak_pub, hex);
        json_t *j = json_pack("{s:s}", "public_key", hex);
        if (o->out != NULL)
            json_object_set_new(j, "file", json_string(o->out));
        sim_print_json(j);
    }
    sim_device_free(&dev);
    return rc;
}
