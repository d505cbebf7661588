/*
 * cmd_sim_proof.c - `molt sim powerfail` (the power-fail proof, sim/powerfail.h)
 * and `molt sim life` (the adversarial device-life proof, sim/life.h). Both
 * exit 0 with zero violations, 1 otherwise. JSON fields: docs/sim.md.
 *
 *   powerfail --encrypted: imgtool's encrypted p13 -> p14 with the device key
 *   enc-x25519; --enc-key: the device's decryption key for --old/--new
 *   encrypted images. Both add the check that no plaintext ever rests in staging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "cmd_sim.h"
#include "molt_host/encrypt.h"
#include "life.h"
#include "molt/enc.h"
#include "powerfail.h"
#include "sim_keystore.h"

/* The device's key store from a private key file (P-256, X25519 or RSA-2048). */
static bool load_keystore(const char *path, sim_keystore_t *ks)
{
    uint8_t *der = NULL;
    size_t n = 0;
    if (!enc_key_pkcs8(path, &der, &n))
        return false;
    bool ok = sim_keystore_add_pkcs8(ks, der, n) == MOLT_OK;
    if (!ok)
        host_error("%s: not a P-256, X25519 or RSA-2048 private key", path);
    OPENSSL_clear_free(der, n);
    return ok;
}

/* What PRIMARY holds once img is installed: its payload decrypted (NULL if it
 * is not encrypted, or on error with *err set). */
static uint8_t *installed_form(const uint8_t *img, size_t len, sim_keystore_t *ks, molt_err_t *err)
{
    molt_decrypt_t dec = {sim_keystore_ecdh, ks, NULL, 0, sim_keystore_rsa_unwrap};
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t im;
    molt_ctr_t c = {0};
    uint8_t key[MOLT_ENC_KEY_MAX];
    size_t klen = 0;

    *err = MOLT_OK;
    molt_source_from_mem(&src, &mem, img, (uint32_t)len);
    if (molt_image_parse(&src, &im) != MOLT_OK || !(im.flags & MOLT_IMAGE_F_ENCRYPTED))
        return NULL;
    uint8_t *out = malloc(len);
    if (out == NULL) {
        *err = MOLT_E_IO;
        return NULL;
    }
    memcpy(out, img, len);
    *err = molt_enc_content_key(&src, &im, &dec, NULL, 0, key, &klen);
    if (*err == MOLT_OK)
        *err = molt_ctr_start(&c, key, klen);
    OPENSSL_cleanse(key, sizeof key);
    if (*err == MOLT_OK)
        *err = molt_ctr_xor(&c, 0, out + im.payload_off, im.img_size);
    molt_ctr_end(&c);
    if (*err != MOLT_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* The default power-fail device's second image, at 1.2.3 (for p20's DEPENDENCY). */
static molt_err_t pf_image1_check(void *ctx, uint8_t id, const molt_version_t *min)
{
    const molt_version_t have = {1, 2, 3, 0};
    (void)ctx;
    return id == 1u && molt_version_cmp(&have, min) >= 0 ? MOLT_OK : MOLT_E_DEPENDENCY;
}
static const molt_deps_t pf_image1 = {pf_image1_check, NULL};

/* The images and keys of a sweep and what they own (freed by pf_free). */
typedef struct pf_inputs {
    uint8_t *old_img, *new_img, *old_plain, *new_plain;
    size_t old_len, new_len;
    sim_keystore_t ks;
    char enc_path[4096];
} pf_inputs_t;

static void pf_free(pf_inputs_t *in)
{
    sim_keystore_free(&in->ks);
    free(in->old_img);
    free(in->new_img);
    free(in->old_plain);
    free(in->new_plain);
}

/* vectors/images/NAME into *buf; with no -k yet, vectors/keys/KEY too. */
static bool vector(sim_opts_t *o, const char *dir, const char *name, const char *key, uint8_t **buf, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images/%s", dir, name);
    if (!host_read_file(path, buf, len))
        return false;
    if (key == NULL || o->kr.ring.count != 0)
        return true;
    snprintf(path, sizeof path, "%s/keys/%s", dir, key);
    return host_keyring_add(&o->kr, path);
}

/* The old and new image: the vectors' encrypted pair, their default pair (p20
 * depends on image 1 >= 1.2.3: the default device has it), or --old/--new. */
static bool pf_images(sim_opts_t *o, const char *dir, pf_inputs_t *in, sim_pf_cfg_t *cfg)
{
    if (o->encrypted) {
        snprintf(in->enc_path, sizeof in->enc_path, "%s/keys/enc-x25519.pem", dir);
        o->enc_key = in->enc_path;
        return vector(o, dir, "p13_ed25519_enc_x25519_aes256.bin", NULL, &in->old_img, &in->old_len) &&
               vector(o, dir, "p14_ed25519_enc_x25519_hmacsha512_aes256.bin", "sign-ed25519.pub.der", &in->new_img,
                      &in->new_len);
    }
    if (o->old_img == NULL) {
        cfg->deps = &pf_image1;
        return vector(o, dir, "p03_ecdsa_p256_seccnt.bin", NULL, &in->old_img, &in->old_len) &&
               vector(o, dir, "p20_ecdsa_p256_deps_bootrec_custom.bin", "sign-ecdsa-p256.pub.der", &in->new_img,
                      &in->new_len);
    }
    if (!host_read_file(o->old_img, &in->old_img, &in->old_len) || !host_read_file(o->new_img, &in->new_img, &in->new_len))
        return false;
    if (o->kr.ring.count == 0) {
        host_error("-k PUB is required with --old/--new");
        return false;
    }
    return true;
}

/* With a decryption key: the key store and the installed form of each image. */
static bool pf_keys(const sim_opts_t *o, pf_inputs_t *in, sim_pf_cfg_t *cfg)
{
    molt_err_t why;
    if (o->enc_key == NULL)
        return true;
    if (!load_keystore(o->enc_key, &in->ks))
        return false;
    in->old_plain = installed_form(in->old_img, in->old_len, &in->ks, &why);
    if (why == MOLT_OK)
        in->new_plain = installed_form(in->new_img, in->new_len, &in->ks, &why);
    if (why != MOLT_OK) {
        host_error("%s: cannot decrypt the images with this key: %s", o->enc_key, molt_err_str(why));
        return false;
    }
    cfg->key_store = &in->ks;
    cfg->old_plain = in->old_plain;
    cfg->new_plain = in->new_plain;
    return true;
}

static json_t *pf_json(const sim_opts_t *o, const sim_pf_cfg_t *cfg, const pf_inputs_t *in, const sim_pf_result_t *res)
{
    json_t *flows = json_object(), *enc = json_null();
    if (cfg->key_store != NULL)
        enc = json_pack("{s:b,s:b}", "old", in->old_plain != NULL, "new", in->new_plain != NULL);
    for (int f = 0; f < 4; f++)
        if (res->flow_ops[f] > 0)
            json_object_set_new(flows, sim_powerfail_flow_name(f), json_integer((json_int_t)res->flow_ops[f]));
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "mode",
                     sim_mode_names[cfg->mode], "slot_sectors", (json_int_t)o->slot_sectors, "sector_size",
                     (json_int_t)o->sector_size, "align", (json_int_t)o->align, "erase_value",
                     (json_int_t)o->erase_value, "seeds", (json_int_t)o->seeds, "clean", o->clean, "double_cuts",
                     (json_int_t)o->double_cuts, "encrypted", enc, "flows", flows, "cuts",
                     (json_int_t)res->cuts, "runs", (json_int_t)res->runs, "bricked", (json_int_t)res->bricked,
                     "mixed", (json_int_t)res->mixed, "counter", (json_int_t)res->counter, "lost",
                     (json_int_t)res->lost, "violations", (json_int_t)res->violations, "plaintext",
                     (json_int_t)res->plaintext, "scans", (json_int_t)res->scans, "ok", sim_powerfail_ok(res));
}

static void pf_header(const sim_opts_t *o, const sim_pf_cfg_t *cfg, const pf_inputs_t *in)
{
    if (cfg->key_store)
        printf("encrypted: old image %s, new image %s; the device decrypts with %s\n",
               in->old_plain ? "encrypted" : "plaintext", in->new_plain ? "encrypted" : "plaintext", o->enc_key);
    printf("geometry: %s, %llu sectors x %llu bytes per slot, align %llu, erase 0x%02llx; "
           "cuts: torn x %llu seeds%s, double cuts at %llu points per flow\n",
           sim_mode_names[cfg->mode], (unsigned long long)o->slot_sectors, (unsigned long long)o->sector_size,
           (unsigned long long)o->align, (unsigned long long)o->erase_value, (unsigned long long)o->seeds,
           o->clean ? " + clean" : "", (unsigned long long)o->double_cuts);
    fflush(stdout);
}

static void pf_print(const sim_pf_result_t *res)
{
    char line[200];
    for (int f = 0; f < 4; f++)
        if (res->flow_ops[f] > 0)
            printf("flow %-8s %llu flash operations\n", sim_powerfail_flow_name(f),
                   (unsigned long long)res->flow_ops[f]);
    if (res->lost || res->violations)
        printf("confirmed images lost: %llu, NOR violations: %llu\n", (unsigned long long)res->lost,
               (unsigned long long)res->violations);
    sim_powerfail_line(res, line, sizeof line);
    printf("%s\n", line);
}

int sim_powerfail(sim_opts_t *o)
{
    const char *dir = o->vectors ? o->vectors : getenv("VECTORS") ? getenv("VECTORS") : "tests/vectors/imgtool";
    pf_inputs_t in;
    sim_pf_cfg_t cfg;
    sim_pf_result_t res;
    int rc = EXIT_USAGE;

    memset(&cfg, 0, sizeof cfg);
    memset(&in, 0, sizeof in);
    if ((o->old_img == NULL) != (o->new_img == NULL))
        return host_error("--old and --new go together");
    if (o->encrypted && (o->old_img != NULL || o->enc_key != NULL))
        return host_error("--encrypted uses the vectors' encrypted images and key: not with --old/--new or --enc-key");
    if (!pf_images(o, dir, &in, &cfg) || !pf_keys(o, &in, &cfg))
        goto out;
    if (sim_layout_uniform(&cfg.layout, (uint32_t)o->sector_size, (uint32_t)o->slot_sectors, (uint32_t)o->align,
                           (uint8_t)o->erase_value) != MOLT_OK) {
        host_error("unusable geometry: sector size must be a multiple of the alignment (a power of two)");
        goto out;
    }
    cfg.mode = (molt_boot_mode_t)(o->mode < 0 ? MOLT_MODE_SWAP : o->mode);
    cfg.old_img = in.old_img;
    cfg.old_len = in.old_len;
    cfg.new_img = in.new_img;
    cfg.new_len = in.new_len;
    cfg.keys = o->kr.ring;
    cfg.seeds = (uint32_t)o->seeds;
    cfg.clean = o->clean;
    cfg.double_cuts = (uint32_t)o->double_cuts;
    cfg.log = stderr;
    if (!o->json)
        pf_header(o, &cfg, &in);
    molt_err_t e = sim_powerfail_run(&cfg, &res);
    if (e != MOLT_OK) {
        host_error("the sweep could not run: %s", molt_err_str(e));
        goto out;
    }
    if (o->json)
        sim_print_json(pf_json(o, &cfg, &in, &res));
    else
        pf_print(&res);
    rc = sim_powerfail_ok(&res) ? 0 : EXIT_INVALID;
out:
    pf_free(&in);
    return rc;
}

/* --- the adversarial device-life proof ------------------------------------------ */

static int life_wear_cmd(const sim_opts_t *o, life_cfg_t *cfg)
{
    life_wear_t w;
    if (!life_wear(cfg, (uint32_t)o->wear_cycles, &w))
        return host_error("life: the wear cycles did not run as expected");
    if (o->json)
        sim_print_json(json_pack("{s:I,s:f,s:f,s:f,s:f,s:b}", "cycles", (json_int_t)w.cycles, "max_per_update",
                                 w.max_per_update, "staging_trailer_per_update", w.staging_trailer_per_update,
                                 "status_per_update", w.status_per_update, "primary_trailer_per_update",
                                 w.primary_trailer_per_update, "ok", w.max_per_update <= 2.0));
    else
        printf("wear over %u update cycles through the PSA FWU API (download, install, trial, accept, clean): "
               "max %.3f erases of one sector per update; staging trailer %.3f, STATUS %.3f, PRIMARY trailer %.3f\n",
               w.cycles, w.max_per_update, w.staging_trailer_per_update, w.status_per_update,
               w.primary_trailer_per_update);
    return w.max_per_update <= 2.0 ? 0 : EXIT_INVALID;
}

static json_t *life_json(const life_cfg_t *cfg, const life_result_t *r)
{
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "mode", sim_mode_names[cfg->mode], "lives",
                          (json_int_t)r->lives, "steps", (json_int_t)r->steps, "boots", (json_int_t)r->boots, "cuts",
                          (json_int_t)r->cuts, "recovery_cuts", (json_int_t)r->recovery_cuts, "activations",
                          (json_int_t)r->activations, "reverts", (json_int_t)r->reverts, "refusals",
                          (json_int_t)r->refusals);
    json_t *k = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "revert_lost", (json_int_t)r->revert_lost,
                                    "migrations", (json_int_t)r->migrations, "restores", (json_int_t)r->restores,
                                    "data_mismatches", (json_int_t)r->dmismatch, "lost_records",
                                    (json_int_t)r->dlost, "violations",
                                    (json_int_t)(r->bricked + r->mixed + r->unconf + r->revert + r->lost +
                                                 r->counter + r->nor + r->dmismatch + r->dlost),
                                    "ok", life_ok(r));
    json_object_update(j, k);
    json_decref(k);
    return j;
}

/* The adversarial device-life proof (sim/life.h): exit 0 with zero violations. */
int sim_life(sim_opts_t *o)
{
    char pem[4096], der[4096], line[1000];
    const char *dir = o->vectors ? o->vectors : getenv("VECTORS") ? getenv("VECTORS") : "tests/vectors/imgtool";
    life_result_t res;
    snprintf(pem, sizeof pem, "%s/keys/sign-ecdsa-p256.pem", dir);
    snprintf(der, sizeof der, "%s/keys/sign-ecdsa-p256.pub.der", dir);
    life_cfg_t cfg = {o->mode < 0 ? MOLT_MODE_SWAP : (molt_boot_mode_t)o->mode, o->first_seed, (uint32_t)o->lives, 40,
                      pem, der, stderr, o->data};
    if (o->wear_cycles > 0)
        return life_wear_cmd(o, &cfg);
    if (!life_run(&cfg, &res))
        return EXIT_INVALID;
    if (o->json) {
        sim_print_json(life_json(&cfg, &res));
    } else {
        life_line(&res, line, sizeof line);
        printf("%s: %s\n", sim_mode_names[cfg.mode], line);
    }
    return life_ok(&res) ? 0 : EXIT_INVALID;
}
