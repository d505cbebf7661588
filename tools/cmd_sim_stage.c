/*
 * cmd_sim_stage.c - `molt sim` commands of the two-stage boot chain and the
 * key set (issue 18, R-ALLUPDATABLE; docs/boot-chain.md, docs/keys.md):
 *
 *   molt sim chain -f DEV [--sector-size N] [--slot-sectors N]
 *       give DEV an immutable stage 0 (its boot record), two stage-1 slots and
 *       a key-set area (kept in DEV.chain); factory step, once
 *   molt sim stage1 -f DEV [-k PUB... | --factory | --permanent] IMAGE
 *       write a stage-1 image (signed with `molt sign --boot-stage 1`):
 *       --factory into S1A with no request (before the first boot); otherwise
 *       into the stage-1 slot that is not confirmed, with a trial request
 *       (or a permanent one) for stage 0. With -k (stage 0's keys) it goes
 *       through the PSA FWU API as component 1 (molt_fwu_add_remap: start,
 *       write, finish, install), so finish judges it as stage 0 will and a
 *       refusal is exit 1 with the reason
 *   molt sim stage1-confirm -f DEV [--fwu]
 *       the running stage 1 confirms itself (after a good trial boot); with
 *       --fwu through psa_fwu_accept on component 1, which also advances the
 *       stage-1 counter at once (exit 1 when no stage-1 trial runs)
 *   molt sim keyupdate -f DEV -k PUB... -r ROOT_PUB... --threshold T [--json] KU
 *       the update service applies a key-update (`molt keyupdate make`): -k the
 *       application's factory keys, -r the device's rotation keys; the image
 *       the application runs is checked not to be stranded (KU_STRANDS). On a
 *       SWAP device it goes through the PSA FWU API as component 2 (start,
 *       write, finish, install: what an agent calls); otherwise straight to
 *       molt_keyrot_apply
 *   molt sim life --chain [--lives N] [--first-seed S] [--steps N] [--json]
 *       the device-life proof over the chain (sim/life_chain.h)
 * `molt sim boot -f DEV -k PUB [--json]` on a device with the chain runs stage
 * 0 (trusting the -k keys), then the application's boot with the key set, and
 * reports the stage 1 in force and the key set's sequence number.
 *
 * Exit 0: done; 1: refused (a key-update, no stage 1 to boot, a life
 * violation); 2: usage or I/O error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmd_sim.h"
#include "molt_host/version.h"
#include "molt_host/keyring.h"
#include "life_chain.h"
#include "molt/fwu.h"
#include "molt/keyrot.h"
#include "sim_chain.h"
#include "sim_port.h"
#include "sim_stage.h"

struct sim_chain {
    sim_stage_t st;
    molt_boot_result_t r0;
    molt_err_t e0;
};

static const char *const s1_names[] = {"s1a", "s1b"};

static char *chain_path(const char *dev_path)
{
    size_t n = strlen(dev_path);
    char *p = malloc(n + 7);
    if (p != NULL) {
        memcpy(p, dev_path, n);
        memcpy(p + n, ".chain", 7);
    }
    return p;
}

static bool exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

typedef struct st_opts {
    const char *file;
    host_keyring_t kr, roots;
    uint64_t threshold, sector_size, slot_sectors, lives, first_seed, steps;
    bool factory, permanent, json, chain, fwu;
    int nargs;
    char **args;
} st_opts_t;

static int st_usage_to(FILE *f)
{
    fprintf(f, "usage: molt sim chain -f DEV [--sector-size N] [--slot-sectors N]\n"
                    "       molt sim stage1 -f DEV [-k PUB... | --factory | --permanent] IMAGE\n"
                    "       molt sim stage1-confirm -f DEV [--fwu]\n"
                    "       molt sim keyupdate -f DEV -k PUB... -r ROOT_PUB... --threshold T [--json] KU\n"
                    "       molt sim life --chain [--lives N] [--first-seed S] [--steps N] [--json]\n");
    return f == stdout ? EXIT_VALID : EXIT_USAGE;
}

static int st_usage(void) { return st_usage_to(stderr); }

static bool st_parse(int argc, char **argv, st_opts_t *o)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},         {"key", required_argument, NULL, 'k'},
        {"root", required_argument, NULL, 'r'},         {"threshold", required_argument, NULL, 't'},
        {"sector-size", required_argument, NULL, 'S'},  {"slot-sectors", required_argument, NULL, 'N'},
        {"factory", no_argument, NULL, 'F'},            {"permanent", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},               {"chain", no_argument, NULL, 'c'},
        {"lives", required_argument, NULL, 'L'},        {"first-seed", required_argument, NULL, 's'},
        {"steps", required_argument, NULL, 'n'},        {"help", no_argument, NULL, 'h'},
        {"fwu", no_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    int c;
    o->sector_size = 4096;
    o->slot_sectors = 4;
    o->lives = 100;
    o->first_seed = 1;
    o->steps = 16;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:k:r:t:", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'f': o->file = optarg; break;
        case 'k': ok = host_keyring_add(&o->kr, optarg); break;
        case 'r': ok = host_keyring_add(&o->roots, optarg); break;
        case 't': ok = sim_parse_num("--threshold", optarg, 1, MOLT_KEYROT_MAX_SIG, &o->threshold); break;
        case 'S': ok = sim_parse_num("--sector-size", optarg, 256, 1u << 20, &o->sector_size); break;
        case 'N': ok = sim_parse_num("--slot-sectors", optarg, 2, 1024, &o->slot_sectors); break;
        case 'F': o->factory = true; break;
        case 'p': o->permanent = true; break;
        case 'j': o->json = true; break;
        case 'c': o->chain = true; break;
        case 'u': o->fwu = true; break;
        case 'L': ok = sim_parse_num("--lives", optarg, 1, 10000000, &o->lives); break;
        case 's': ok = sim_parse_num("--first-seed", optarg, 0, UINT64_MAX / 2, &o->first_seed); break;
        case 'n': ok = sim_parse_num("--steps", optarg, 1, 10000, &o->steps); break;
        default: st_usage(); return false;
        }
        if (!ok)
            return false;
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
    return true;
}

/* --- the chain beside a device ---------------------------------------------- */

static bool chain_load(sim_chain_t *c, const char *dev_path, const molt_keyring_t *keys, const molt_keyring_t *roots,
                       uint32_t threshold)
{
    char *p = chain_path(dev_path);
    sim_res_t why = SIM_OK;
    bool ok = p != NULL && sim_stage_load(&c->st, p, keys, roots, threshold, &why) == MOLT_OK;
    if (!ok)
        host_error("%s: %s", p ? p : dev_path, why == SIM_OK ? "not a boot chain" : sim_res_str(why));
    free(p);
    return ok;
}

static bool chain_save(const sim_chain_t *c, const char *dev_path)
{
    char *p = chain_path(dev_path);
    bool ok = p != NULL && sim_stage_save(&c->st, p) == MOLT_OK;
    if (!ok)
        host_error("%s.chain: cannot write the boot chain file", dev_path);
    free(p);
    return ok;
}

bool sim_chain_open(const char *dev_path, const molt_keyring_t *keys, sim_chain_t **out)
{
    char *p = chain_path(dev_path);
    *out = NULL;
    if (p == NULL)
        return host_error("out of memory") == 0;
    bool has = exists(p);
    free(p);
    if (!has)
        return true;
    sim_chain_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return host_error("out of memory") == 0;
    if (!chain_load(c, dev_path, keys, NULL, 0)) {
        free(c);
        return false;
    }
    *out = c;
    return true;
}

bool sim_chain_boot0(sim_chain_t *c, bool json)
{
    if (c == NULL)
        return true;
    (void)sim_device_new_boot(&c->st.dev);
    c->e0 = sim_stage_boot0(&c->st, &c->r0);
    if (c->e0 != MOLT_OK && !json)
        printf("stage 0: no verified stage 1 (%s): secure state, nothing executed\n", molt_err_str(c->e0));
    else if (c->e0 != MOLT_OK)
        printf("{\"stage1\":{\"error\":\"%s\",\"reason\":\"%s\"}}\n", molt_err_name(c->e0), molt_err_str(c->e0));
    return c->e0 == MOLT_OK;
}

void sim_chain_wire(sim_chain_t *c, molt_boot_cfg_t *cfg)
{
    if (c != NULL)
        cfg->keyrot = &c->st.keyrot;
}

void sim_chain_report(sim_chain_t *c, json_t *j)
{
    if (c == NULL)
        return;
    uint32_t seq = 0;
    molt_err_t ke = sim_stage_keyset_seq(&c->st, &seq);
    const molt_boot_result_t *r = &c->r0;
    char v[48];
    host_format_version(&r->image.version, v, sizeof v);
    if (j != NULL) {
        json_t *s1 = c->e0 != MOLT_OK
                         ? json_pack("{s:s,s:s}", "error", molt_err_name(c->e0), "reason", molt_err_str(c->e0))
                         : json_pack("{s:s,s:s,s:b,s:I,s:s,s:s}", "slot", s1_names[r->slot & 1u], "version", v,
                                     "trial", r->trial, "security_counter", (json_int_t)r->counter, "action",
                                     sim_action_name(r->action), "staged", molt_err_name(r->staged_err));
        json_object_set_new(j, "stage1", s1);
        json_object_set_new(j, "keyset", ke == MOLT_OK ? json_pack("{s:I}", "seq", (json_int_t)seq)
                                                       : json_pack("{s:s}", "error", molt_err_name(ke)));
        return;
    }
    if (c->e0 == MOLT_OK) {
        printf("stage 1: slot %s, version %s, %s, stage-1 counter %u, action %s", s1_names[r->slot & 1u], v,
               r->trial ? "trial" : "confirmed", (unsigned)r->counter, sim_action_name(r->action));
        if (r->staged_err != MOLT_OK)
            printf(", staged stage 1 refused: %s", molt_err_str(r->staged_err));
        printf("\n");
    }
    if (ke == MOLT_OK)
        printf("key set: %u\n", (unsigned)seq);
    else
        printf("key set: unreadable (%s): every image is refused\n", molt_err_str(ke));
}

bool sim_chain_close(sim_chain_t *c, const char *dev_path, bool save)
{
    if (c == NULL)
        return true;
    bool ok = !save || chain_save(c, dev_path);
    sim_stage_free(&c->st);
    free(c);
    return ok;
}

/* --- subcommands ---------------------------------------------------------------- */

static int st_chain(const st_opts_t *o)
{
    sim_device_t dev;
    sim_res_t why;
    sim_layout_t l;
    if (o->file == NULL)
        return host_error("-f DEV is required");
    char *p = chain_path(o->file);
    if (p == NULL)
        return host_error("out of memory");
    bool has = exists(p);
    free(p);
    if (has)
        return host_error("%s already has a boot chain (%s.chain): stage 0 is provisioned once", o->file, o->file);
    if (sim_device_load(&dev, o->file, NULL, &why) != MOLT_OK)
        return host_error("%s: %s", o->file, sim_res_str(why));
    uint32_t align = dev.layout.geom.write_align;
    uint8_t ev = dev.layout.geom.erase_value;
    sim_device_free(&dev);
    if (o->sector_size % align != 0 ||
        sim_stage_layout(&l, (uint32_t)o->sector_size, (uint32_t)o->slot_sectors, align, ev) != MOLT_OK)
        return host_error("unusable stage-1 geometry: %llu sectors of %llu bytes at alignment %u",
                         (unsigned long long)o->slot_sectors, (unsigned long long)o->sector_size, align);
    sim_chain_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return host_error("out of memory");
    int rc = EXIT_USAGE;
    if (sim_stage_init(&c->st, &l, NULL, NULL, 0) != MOLT_OK) {
        free(c);
        return host_error("cannot create the boot chain");
    }
    if (chain_save(c, o->file)) {
        printf("%s: boot chain: stage 0, stage-1 slots S1A and S1B of %llu x %llu bytes, key set (genesis)\n",
               o->file, (unsigned long long)o->slot_sectors, (unsigned long long)o->sector_size);
        rc = 0;
    }
    sim_chain_close(c, o->file, false);
    return rc;
}

/* A stage 1 through the PSA FWU API, component SIM_FWU_COMPONENT_STAGE1 on
 * stage 0's port (molt_fwu_add_remap): what an agent calls. *slot gets the
 * stage-1 slot written; *refused tells the result is the reason finish (or a
 * write) refused the image for. */
static molt_err_t stage1_via_fwu(sim_chain_t *c, const uint8_t *img, size_t len, uint32_t *slot, bool *refused)
{
    static molt_fwu_t fwu;
    const psa_fwu_component_t id = SIM_FWU_COMPONENT_STAGE1;
    psa_fwu_component_info_t info;
    molt_err_t e;
    memset(&fwu, 0, sizeof fwu);
    if ((e = molt_fwu_add_remap(&fwu, id, &c->st.dev.port, &sim_stage0_cfg, NULL)) != MOLT_OK)
        return e;
    if (molt_fwu_query(&fwu, id, &info) != PSA_SUCCESS)
        return MOLT_E_ARG;
    if ((info.state == PSA_FWU_FAILED || info.state == PSA_FWU_UPDATED) && molt_fwu_clean(&fwu, id) != PSA_SUCCESS)
        return MOLT_E_FLASH;
    psa_status_t st = molt_fwu_start(&fwu, id, NULL, 0);
    if (st == PSA_ERROR_BAD_STATE)
        return info.state == PSA_FWU_READY || info.state == PSA_FWU_FAILED || info.state == PSA_FWU_UPDATED
                   ? MOLT_E_NO_IMAGE
                   : MOLT_E_STATE; /* a stage-1 update is staged or on trial */
    *slot = fwu.comp[0].slot;
    for (size_t off = 0; st == PSA_SUCCESS && off < len; off += PSA_FWU_MAX_WRITE_SIZE)
        st = molt_fwu_write(&fwu, id, off, img + off, len - off < PSA_FWU_MAX_WRITE_SIZE ? len - off : PSA_FWU_MAX_WRITE_SIZE);
    if (st == PSA_SUCCESS)
        st = molt_fwu_finish(&fwu, id);
    if (st == PSA_SUCCESS)
        st = molt_fwu_install(&fwu);
    if (st == PSA_SUCCESS_REBOOT)
        return MOLT_OK;
    if (molt_fwu_query(&fwu, id, &info) == PSA_SUCCESS && info.state == PSA_FWU_FAILED && info.error > 0) {
        *refused = true;
        return (molt_err_t)info.error;
    }
    return st == PSA_ERROR_INVALID_ARGUMENT ? MOLT_E_FWU_INCOMPLETE : MOLT_E_FLASH;
}

static int st_stage1(const st_opts_t *o)
{
    uint8_t *img = NULL;
    size_t len = 0;
    if (o->file == NULL || o->nargs != 1)
        return st_usage();
    if (o->factory && o->permanent)
        return host_error("--factory and --permanent exclude each other");
    bool fwu = o->kr.ring.count > 0;
    if (fwu && (o->factory || o->permanent))
        return host_error("-k (through the update API, a trial) excludes --factory and --permanent");
    sim_chain_t c;
    if (!chain_load(&c, o->file, fwu ? &o->kr.ring : NULL, NULL, 0))
        return EXIT_USAGE;
    bool refused = false;
    int rc = EXIT_USAGE;
    uint32_t slot = MOLT_AREA_PRIMARY;
    molt_err_t e;
    if (!host_read_file(o->args[0], &img, &len))
        goto out;
    e = fwu          ? stage1_via_fwu(&c, img, len, &slot, &refused)
        : o->factory ? sim_stage_factory(&c.st, img, len)
                     : sim_stage_install(&c.st, img, len, o->permanent, &slot);
    if (refused) {
        host_error("%s: refused by the update API (component %u): %s (%s)", o->args[0], SIM_FWU_COMPONENT_STAGE1,
                   molt_err_name(e), molt_err_str(e));
        rc = EXIT_INVALID;
        if (!chain_save(&c, o->file)) /* the FAILED record */
            rc = EXIT_USAGE;
        goto out;
    }
    if (e == MOLT_E_STATE) {
        host_error("a stage-1 update is staged or on trial: boot and confirm (or let it revert) first");
        rc = EXIT_INVALID;
        goto out;
    }
    if (e == MOLT_E_NO_IMAGE) {
        host_error("no stage 1 is confirmed yet: write the first one with --factory and boot");
        rc = EXIT_INVALID;
        goto out;
    }
    if (e != MOLT_OK) {
        host_error("%s: %s", o->args[0], molt_err_str(e));
        goto out;
    }
    if (!chain_save(&c, o->file))
        goto out;
    printf("stage 1: %s written to %s%s%s\n", o->args[0], s1_names[slot],
           o->factory ? " (factory)" : o->permanent ? ", permanent update requested" : ", trial requested",
           fwu ? " (PSA FWU component 1)" : "");
    rc = 0;
out:
    free(img);
    sim_stage_free(&c.st);
    return rc;
}

/* psa_fwu_accept on component 1: confirm the stage-1 trial and advance the
 * stage-1 counter at once (frees c). */
static int confirm_via_fwu(sim_chain_t *c, const char *file)
{
    static molt_fwu_t fwu;
    const psa_fwu_component_t id = SIM_FWU_COMPONENT_STAGE1;
    psa_fwu_component_info_t info;
    uint32_t nv = 0;
    memset(&info, 0, sizeof info);
    int rc = EXIT_USAGE;
    psa_status_t ps;
    memset(&fwu, 0, sizeof fwu);
    molt_err_t e = molt_fwu_add_remap(&fwu, id, &c->st.dev.port, &sim_stage0_cfg, NULL);
    if (e != MOLT_OK)
        host_error("%s.chain: %s", file, molt_err_str(e));
    else if (molt_fwu_query(&fwu, id, &info) != PSA_SUCCESS || info.state != PSA_FWU_TRIAL) {
        host_error("no stage-1 trial to accept (component %u is %s)", (unsigned)id,
                   info.state == PSA_FWU_REJECTED ? "rejected" : "not in trial");
        rc = EXIT_INVALID;
    } else if ((ps = molt_fwu_accept(&fwu)) != PSA_SUCCESS || (ps = molt_fwu_query(&fwu, id, &info)) != PSA_SUCCESS) {
        host_error("stage 1 not accepted: PSA status %d", (int)ps);
        rc = EXIT_INVALID;
    } else if (chain_save(c, file)) {
        molt_version_t v = {info.version.major, info.version.minor, info.version.patch, info.version.build};
        char vs[48];
        host_format_version(&v, vs, sizeof vs);
        (void)c->st.dev.port.nv_read(c->st.dev.port.ctx, 0, &nv);
        printf("stage 1: %s accepted through the PSA FWU API (component %u), stage-1 counter %u\n", vs,
               (unsigned)id, (unsigned)nv);
        rc = 0;
    }
    sim_stage_free(&c->st);
    return rc;
}

static int st_confirm(const st_opts_t *o)
{
    if (o->file == NULL || o->nargs != 0)
        return st_usage();
    sim_chain_t c;
    if (!chain_load(&c, o->file, NULL, NULL, 0))
        return EXIT_USAGE;
    if (o->fwu)
        return confirm_via_fwu(&c, o->file);
    molt_err_t e = sim_stage_confirm(&c.st);
    int rc = EXIT_INVALID;
    if (e != MOLT_OK)
        host_error("stage 1 not confirmed: %s", molt_err_str(e));
    else if (chain_save(&c, o->file)) {
        printf("stage 1: confirmed (stage 0 records it at the next reset)\n");
        rc = 0;
    } else
        rc = EXIT_USAGE;
    sim_stage_free(&c.st);
    return rc;
}

/* SWAP devices: the key-update travels as the agent will carry it, through the
 * PSA FWU API as component SIM_FWU_COMPONENT_KEYSET (molt/fwu.h
 * molt_fwu_keyset_t): start, write, finish (check), install (apply). */
static molt_err_t via_fwu(sim_chain_t *c, sim_device_t *dev, const molt_keyring_t *factory, const uint8_t *ku,
                          size_t len, bool *busy)
{
    static molt_fwu_t fwu;
    static uint8_t buf[2457];
    const molt_boot_cfg_t cfg = {.mode = MOLT_MODE_SWAP, .keyrot = &c->st.keyrot};
    const molt_fwu_keyset_t ks = {&c->st.keyrot, factory, buf, sizeof buf, 0,
                                  molt_keyrot_check, molt_keyrot_apply, molt_keyrot_load};
    const psa_fwu_component_t id = SIM_FWU_COMPONENT_KEYSET;
    psa_fwu_component_info_t info;
    molt_err_t e;
    if ((e = molt_fwu_init(&fwu, &dev->port, &cfg, NULL)) != MOLT_OK || (e = molt_fwu_add_keyset(&fwu, id, &ks)) != MOLT_OK)
        return e;
    psa_status_t st = molt_fwu_start(&fwu, id, NULL, 0);
    for (size_t off = 0; st == PSA_SUCCESS && off < len; off += PSA_FWU_MAX_WRITE_SIZE)
        st = molt_fwu_write(&fwu, id, off, ku + off, len - off < PSA_FWU_MAX_WRITE_SIZE ? len - off : PSA_FWU_MAX_WRITE_SIZE);
    if (st == PSA_SUCCESS)
        st = molt_fwu_finish(&fwu, id);
    if (st == PSA_SUCCESS)
        st = molt_fwu_install(&fwu);
    if (st == PSA_SUCCESS)
        return MOLT_OK;
    if (molt_fwu_query(&fwu, id, &info) == PSA_SUCCESS && info.state == PSA_FWU_FAILED && info.error > 0)
        return (molt_err_t)info.error;
    *busy = st == PSA_ERROR_BAD_STATE; /* the application's component is staged or on trial */
    return st == PSA_ERROR_INSUFFICIENT_STORAGE ? MOLT_E_KU_FORMAT : MOLT_E_ARG;
}

static int st_keyupdate(const st_opts_t *o)
{
    uint8_t *ku = NULL;
    size_t len = 0;
    sim_device_t dev;
    sim_res_t why;
    if (o->file == NULL || o->nargs != 1)
        return st_usage();
    if (o->kr.ring.count == 0 || o->roots.ring.count == 0 || o->threshold == 0)
        return host_error("-k PUB (the factory keys), -r ROOT_PUB (the rotation keys) and --threshold T are required");
    if (o->kr.ring.count > MOLT_KEYROT_MAX_FACTORY)
        return host_error("-k: a device extends at most %u factory keys", MOLT_KEYROT_MAX_FACTORY);
    if (!host_read_file(o->args[0], &ku, &len))
        return EXIT_USAGE;
    if (sim_device_load(&dev, o->file, &o->kr.ring, &why) != MOLT_OK) {
        free(ku);
        return host_error("%s: %s", o->file, sim_res_str(why));
    }
    sim_chain_t *c = calloc(1, sizeof *c);
    int rc = EXIT_USAGE;
    if (c == NULL || !chain_load(c, o->file, NULL, &o->roots.ring, (uint32_t)o->threshold)) {
        free(c);
        free(ku);
        sim_device_free(&dev);
        return EXIT_USAGE;
    }
    /* The image the application runs: the slot its last boot chose (SWAP and
     * OVERWRITE always run PRIMARY). */
    uint32_t run = dev.ks.boot_slot == 1 && dev.layout.mode == MOLT_MODE_REMAP ? MOLT_AREA_SECONDARY : MOLT_AREA_PRIMARY;
    molt_mem_source_t mem;
    molt_source_t src;
    molt_source_from_mem(&src, &mem, sim_flash_data(&dev.flash) + sim_device_area_base(&dev, run),
                         dev.port.area[run].size);
    uint32_t before = 0, after = 0;
    (void)sim_stage_keyset_seq(&c->st, &before);
    bool busy = false;
    molt_err_t e = dev.layout.mode == MOLT_MODE_SWAP ? via_fwu(c, &dev, &o->kr.ring, ku, len, &busy)
                                                     : sim_stage_keyupdate(&c->st, &o->kr.ring, ku, len, &src);
    (void)sim_stage_keyset_seq(&c->st, &after);
    if (busy) {
        host_error("%s: an application update is staged or on trial: boot and confirm (or let it revert) first",
                  o->file);
        rc = EXIT_INVALID;
        goto out;
    }
    if (e == MOLT_OK && !chain_save(c, o->file))
        goto out;
    rc = e == MOLT_OK ? 0 : EXIT_INVALID;
    if (o->json) {
        json_t *j = e == MOLT_OK ? json_pack("{s:b,s:I,s:I,s:I}", "applied", 1, "seq", (json_int_t)after, "added",
                                             (json_int_t)c->st.ws.set.n_added, "retired",
                                             (json_int_t)c->st.ws.set.n_retired)
                                 : json_pack("{s:b,s:I,s:s,s:s}", "applied", 0, "seq", (json_int_t)before, "error",
                                             molt_err_name(e), "reason", molt_err_str(e));
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (e == MOLT_OK) {
        printf("key-update %s: applied; key set %u in force (%u added key%s, %u retired)\n", o->args[0],
               (unsigned)after, (unsigned)c->st.ws.set.n_added, c->st.ws.set.n_added == 1 ? "" : "s",
               (unsigned)c->st.ws.set.n_retired);
    } else {
        fprintf(stderr, "molt sim: key-update %s refused: %s (%s); key set %u unchanged\n", o->args[0],
                molt_err_str(e), molt_err_name(e), (unsigned)before);
    }
out:
    free(ku);
    sim_chain_close(c, o->file, false);
    sim_device_free(&dev);
    return rc;
}

static int st_life(const st_opts_t *o)
{
    chain_cfg_t cfg = {o->first_seed, (uint32_t)o->lives, (uint32_t)o->steps, stderr, false};
    chain_result_t res;
    char line[1200];
    if (!chain_run(&cfg, &res))
        return EXIT_INVALID;
    if (o->json)
        printf("{\"lives\":%llu,\"boots\":%llu,\"cuts\":%llu,\"stage1_cuts\":%llu,\"keyupdate_cuts\":%llu,"
               "\"app_cuts\":%llu,\"bricked\":%llu,\"mixed\":%llu,\"retired_accepted\":%llu,\"keyset_rollbacks\":%llu,"
               "\"stage1_counter\":%llu,\"other\":%llu}\n",
               (unsigned long long)res.lives, (unsigned long long)res.boots, (unsigned long long)res.cuts,
               (unsigned long long)res.s1_cuts, (unsigned long long)res.ku_cuts, (unsigned long long)res.app_cuts,
               (unsigned long long)res.bricked, (unsigned long long)res.mixed, (unsigned long long)res.retired,
               (unsigned long long)res.rollback, (unsigned long long)res.s1counter, (unsigned long long)res.wrong);
    else {
        chain_line(&res, line, sizeof line);
        printf("chain: %s\n", line);
    }
    return chain_ok(&res) ? 0 : EXIT_INVALID;
}

int cmd_sim_stage(int argc, char **argv)
{
    if (cli_help_asked(argc, argv))
        return st_usage_to(stdout);
    st_opts_t o;
    int rc;
    memset(&o, 0, sizeof o);
    const char *sub = argv[1];
    if (!st_parse(argc - 1, argv + 1, &o)) {
        host_keyring_free(&o.kr);
        host_keyring_free(&o.roots);
        return EXIT_USAGE;
    }
    if (!strcmp(sub, "chain") && o.nargs == 0)
        rc = st_chain(&o);
    else if (!strcmp(sub, "stage1"))
        rc = st_stage1(&o);
    else if (!strcmp(sub, "stage1-confirm"))
        rc = st_confirm(&o);
    else if (!strcmp(sub, "keyupdate"))
        rc = st_keyupdate(&o);
    else if (!strcmp(sub, "life") && o.chain && o.nargs == 0)
        rc = st_life(&o);
    else
        rc = st_usage();
    host_keyring_free(&o.kr);
    host_keyring_free(&o.roots);
    return rc;
}
