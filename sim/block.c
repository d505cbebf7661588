/*
 * block.c - the blocking attacker against the authenticated watchdog
 * (block.h). The device is lib/ over the sim port; the deployer is a model of
 * its ticket rule (docs/awdt.md) that signs real tickets with a key of its
 * own, so every ticket the device accepts passed molt_awdt_accept.
 */
#include "block.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "molt/boot.h"
#include "sim_port.h"
#include "molt_host/ticket.h"

typedef struct bsim {
    const block_cfg_t *c;
    block_result_t *r;
    sim_device_t d;
    EVP_PKEY *tk;
    molt_boot_cfg_t bc;
    molt_version_t running, v2;
} bsim_t;

static uint32_t now(const bsim_t *s) { return s->d.aw.clock; }

const char *block_attacker_name(block_attacker_t a)
{
    static const char *const n[] = {"none", "drop", "ignore", "outage"};
    return (unsigned)a < 4u ? n[a] : "?";
}

uint32_t block_cycle_bound(const block_cfg_t *c) { return 3u * c->boot_cost + c->download_cost; }

/* --- the deployer --- */

static bool released(const bsim_t *s) { return s->c->attacker != BLOCK_OUTAGE && now(s) >= s->c->release_at; }

static bool deployer_up(const bsim_t *s)
{
    return s->c->attacker != BLOCK_OUTAGE || now(s) < s->c->release_at ||
           now(s) - s->c->release_at >= s->c->outage;
}

/* Good standing: nothing released above what the device attests, or still in the grace. */
static bool current(const bsim_t *s)
{
    return !released(s) || molt_version_cmp(&s->running, &s->v2) >= 0 || now(s) - s->c->release_at < s->c->grace;
}

/* The device asks for a ticket (nonce, deployer, check). true: accepted. */
static bool ask_ticket(bsim_t *s)
{
    uint8_t nonce[MOLT_AWDT_NONCE_LEN], t[MOLT_AWDT_TICKET_LEN];
    if (!deployer_up(s))
        return false;
    if (sim_awdt_nonce(&s->d.aw, nonce) != MOLT_OK)
        return false;
    if (!current(s)) {
        s->r->refusals++;
        return false;
    }
    if (!ticket_make(s->tk, s->d.aw.device_id, nonce, s->c->ticket_seconds, s->c->ticket_boots, t, NULL))
        return false;
    if (sim_awdt_ticket(&s->d.aw, t, sizeof t) != MOLT_OK)
        return false;
    s->r->tickets++;
    return true;
}

static bool v2_offered(const bsim_t *s)
{
    return deployer_up(s) && released(s) && molt_version_cmp(&s->running, &s->v2) < 0;
}

/* --- the device --- */

/* Device time moves on; true when the hardware watchdog reset the device. */
static bool wait(bsim_t *s, uint32_t secs)
{
    if (!sim_awdt_advance(&s->d.aw, secs))
        return false;
    s->r->watchdog_resets++;
    return true;
}

/* Download v2, stage it, ask for a trial. true: staged (reset next). */
static bool install_v2(bsim_t *s)
{
    (void)wait(s, s->c->download_cost);
    uint32_t off = molt_boot_staging_offset(&s->d.port, &s->bc);
    return sim_device_program(&s->d, MOLT_AREA_SECONDARY, off, s->c->v2, s->c->v2_len) == MOLT_OK &&
           molt_request_upgrade(&s->d.port, &s->bc, false) == MOLT_OK;
}

/* The updater path of a recovery boot: until it has something to reboot for. */
static void recovery(bsim_t *s, const molt_boot_result_t *res)
{
    if (res->trial) { /* the image it installed: health check, confirm */
        (void)molt_confirm(&s->d.port, &s->bc);
        return;
    }
    while (now(s) < s->c->horizon) {
        /* what the deployer approves comes first; a ticket only when there is nothing to install */
        if ((v2_offered(s) && install_v2(s)) || ask_ticket(s))
            return;
        (void)wait(s, s->c->poll);
    }
}

/* The application of a normal boot: until the watchdog resets it or it
 * reboots into an update. */
static void application(bsim_t *s, const molt_boot_result_t *res)
{
    if (res->trial) { /* honest health check of an update it installed */
        (void)molt_confirm(&s->d.port, &s->bc);
        return;
    }
    while (now(s) < s->c->horizon) {
        if (wait(s, s->c->poll)) {
            s->r->old_app_until = now(s);
            return;
        }
        bool after = released(s);
        bool asks = s->c->attacker != BLOCK_IGNORE || !after;
        uint32_t before = s->r->tickets;
        if (asks && ask_ticket(s) && s->r->tickets > before)
            s->r->last_ticket_at = now(s);
        bool updates = s->c->attacker == BLOCK_NONE || s->c->attacker == BLOCK_OUTAGE || !after;
        if (updates && v2_offered(s) && install_v2(s))
            return;
    }
}

static bool setup(bsim_t *s)
{
    sim_layout_t lay;
    if (sim_layout_uniform(&lay, 1024, 8, 8, 0xff) != MOLT_OK || sim_device_init(&s->d, &lay, s->c->keys) != MOLT_OK) {
        fprintf(stderr, "block: cannot make the device\n");
        return false;
    }
    if (sim_device_program(&s->d, MOLT_AREA_PRIMARY, 0, s->c->v1, s->c->v1_len) != MOLT_OK) {
        fprintf(stderr, "block: v1 does not fit the device\n");
        return false;
    }
    /* v2's version, from its header (the deployer's catalogue; the boot code checks the rest) */
    molt_source_t src;
    molt_mem_source_t mem;
    molt_image_t img;
    molt_source_from_mem(&src, &mem, s->c->v2, (uint32_t)s->c->v2_len);
    molt_err_t pe = s->c->v2_len <= UINT32_MAX ? molt_image_parse(&src, &img) : MOLT_E_TOO_LARGE;
    if (pe != MOLT_OK) {
        fprintf(stderr, "block: v2 is not an image: %s\n", molt_err_str(pe));
        return false;
    }
    s->v2 = img.version;
    s->tk = EVP_EC_gen("P-256");
    uint8_t *der = NULL;
    int n = s->tk != NULL ? i2d_PUBKEY(s->tk, &der) : -1;
    molt_err_t e = n > 0 ? sim_awdt_provision(&s->d.aw, s->d.ks.iak_pub, der, (size_t)n, s->c->ticket_seconds,
                                              s->c->ticket_boots, s->c->ticket_seconds, s->c->ticket_boots, 600,
                                              s->c->ticket_seconds, s->c->ticket_boots)
                         : MOLT_E_CRYPTO;
    OPENSSL_free(der);
    if (e != MOLT_OK) {
        fprintf(stderr, "block: cannot provision the watchdog: %s\n", molt_err_str(e));
        return false;
    }
    s->bc = (molt_boot_cfg_t){.mode = MOLT_MODE_SWAP, .awdt = sim_awdt_cfg(&s->d.aw)};
    return true;
}

bool block_run(const block_cfg_t *c, block_result_t *r)
{
    bsim_t s;
    memset(&s, 0, sizeof s);
    memset(r, 0, sizeof *r);
    s.c = c;
    s.r = r;
    r->bound = c->release_at + c->grace + c->ticket_seconds + block_cycle_bound(c);
    if (!setup(&s)) {
        EVP_PKEY_free(s.tk);
        sim_device_free(&s.d);
        return false;
    }
    while (now(&s) < c->horizon) {
        molt_boot_result_t res;
        (void)sim_device_new_boot(&s.d); /* a reset: RAM gone, the watchdog stops until armed */
        uint32_t start = now(&s);
        molt_err_t e = molt_boot_go(&s.d.port, &s.bc, &res);
        r->boots++;
        if (e != MOLT_OK) {
            r->bricked = true;
            break;
        }
        s.running = res.image.version;
        (void)wait(&s, c->boot_cost);
        if (res.recovery) {
            r->recovery_boots++;
            if (r->recovery_at == 0) {
                molt_awdt_state_t st;
                uint32_t boots;
                r->recovery_at = start;
                if (sim_awdt_status(&s.d.aw, &st, &boots) == MOLT_OK)
                    r->deadline = st.deadline;
            }
        }
        bool done = c->attacker == BLOCK_OUTAGE
                        ? !res.recovery && r->recovery_at != 0
                        : !res.recovery && !res.trial && molt_version_cmp(&s.running, &s.v2) == 0;
        if (done) {
            r->reached = true;
            r->reached_at = start;
            r->recovery_cycle = r->recovery_at != 0 ? start - r->recovery_at : 0;
            break;
        }
        if (res.recovery)
            recovery(&s, &res);
        else
            application(&s, &res);
    }
    EVP_PKEY_free(s.tk);
    sim_device_free(&s.d);
    return true;
}
