/*
 * sim_awdt.c - the simulated device's authenticated watchdog (sim_awdt.h).
 */
#include "sim_awdt.h"

#include <string.h>

#include <psa/crypto.h>

#include "sim_flash.h"

#define FILE_MAGIC "MOLTAWDT"
#define F_ON 1u
#define F_ARMED 2u
#define F_NONCE 4u
#define F_RECOVERY 8u

/* --- the state area: NOR rules over w->mem --- */

static molt_err_t m_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    sim_awdt_t *w = ctx;
    if (off > sizeof w->mem || len > sizeof w->mem - off)
        return MOLT_E_FLASH;
    memcpy(buf, w->mem + off, len);
    return MOLT_OK;
}

/* How many bytes of this operation land: all, or a torn prefix at the armed cut. */
static size_t m_lands(sim_awdt_t *w, size_t len)
{
    if (w->ops++ != w->cut_at || !w->cut_armed)
        return len;
    w->dead = true;
    w->cut_rng = w->cut_rng * 1103515245u + 12345u;
    return (size_t)((w->cut_rng >> 8) % (len + 1u));
}

static molt_err_t m_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    sim_awdt_t *w = ctx;
    if (w->dead || off % 8u || len % 8u || off > sizeof w->mem || len > sizeof w->mem - off)
        return MOLT_E_FLASH;
    for (size_t i = 0; i < len; i++)
        if (w->mem[off + i] != 0xffu)
            return MOLT_E_FLASH; /* NOR: only erased bytes are programmed */
    memcpy(w->mem + off, buf, m_lands(w, len));
    return w->dead ? MOLT_E_FLASH : MOLT_OK;
}

static molt_err_t m_erase(void *ctx, uint32_t off, uint32_t len)
{
    sim_awdt_t *w = ctx;
    if (w->dead || off % SIM_AWDT_SECTOR || len % SIM_AWDT_SECTOR || off > sizeof w->mem || len > sizeof w->mem - off)
        return MOLT_E_FLASH;
    memset(w->mem + off, 0xff, m_lands(w, len));
    return w->dead ? MOLT_E_FLASH : MOLT_OK;
}

void sim_awdt_arm_cut(sim_awdt_t *w, uint64_t n, uint32_t seed)
{
    w->cut_armed = true;
    w->dead = false;
    w->cut_at = w->ops + n;
    w->cut_rng = seed;
}

void sim_awdt_power_back(sim_awdt_t *w)
{
    w->cut_armed = false;
    w->dead = false;
}

static molt_err_t m_sector(void *ctx, uint32_t off, molt_sector_t *sec)
{
    (void)ctx;
    if (off >= 2u * SIM_AWDT_SECTOR)
        return MOLT_E_ARG;
    sec->off = off - off % SIM_AWDT_SECTOR;
    sec->size = SIM_AWDT_SECTOR;
    return MOLT_OK;
}

static uint32_t w_now(void *ctx) { return ((sim_awdt_t *)ctx)->clock; }

static void w_arm(void *ctx, uint32_t seconds)
{
    sim_awdt_t *w = ctx;
    /* 0: a recovery boot. Only the updater runs; this port's recovery path
     * needs no watchdog (it only polls the deployer and installs). */
    w->armed = seconds != 0u;
    w->fires_at = w->clock + seconds < w->clock ? UINT32_MAX : w->clock + seconds;
}

static molt_err_t w_random(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return psa_crypto_init() == PSA_SUCCESS && psa_generate_random(buf, len) == PSA_SUCCESS ? MOLT_OK : MOLT_E_CRYPTO;
}

void sim_awdt_wire(sim_awdt_t *w)
{
    w->area = (molt_area_t){.size = sizeof w->mem, .write_align = 8, .erase_value = 0xff, .read = m_read,
                            .write = m_write, .erase = m_erase, .sector = m_sector, .ctx = w};
    w->key = (molt_key_t){w->key_der, w->key_len};
    w->ring = (molt_keyring_t){&w->key, w->key_len != 0 ? 1u : 0u};
    memset(&w->pol, 0, sizeof w->pol);
    w->pol.keys = &w->ring;
    memcpy(w->pol.device_id, w->device_id, sizeof w->device_id);
    w->pol.max_seconds = w->max_seconds;
    w->pol.max_boots = w->max_boots;
    w->pol.nonce_ttl = w->nonce_ttl;
    w->cfg = (molt_awdt_cfg_t){.area = &w->area, .now = w_now, .arm = w_arm, .ctx = w, .boot = molt_awdt_boot,
                               .exit_seconds = w->exit_seconds, .exit_boots = w->exit_boots};
}

molt_err_t sim_awdt_provision(sim_awdt_t *w, const uint8_t *iak_pub, const uint8_t *key_der, size_t key_len,
                              uint32_t seconds, uint32_t boots, uint32_t max_seconds, uint32_t max_boots,
                              uint32_t nonce_ttl, uint32_t exit_seconds, uint32_t exit_boots)
{
    size_t n = 0;
    if (w->on)
        return MOLT_E_STATE;
    if (key_len == 0 || key_len > sizeof w->key_der || seconds == 0 || boots == 0)
        return MOLT_E_ARG;
    if (psa_crypto_init() != PSA_SUCCESS ||
        psa_hash_compute(PSA_ALG_SHA_256, iak_pub, 65, w->device_id, sizeof w->device_id, &n) != PSA_SUCCESS)
        return MOLT_E_CRYPTO;
    memcpy(w->key_der, key_der, key_len);
    w->key_len = (uint32_t)key_len;
    w->max_seconds = max_seconds;
    w->max_boots = max_boots;
    w->nonce_ttl = nonce_ttl;
    w->exit_seconds = exit_seconds;
    w->exit_boots = exit_boots;
    memset(w->mem, 0xff, sizeof w->mem);
    sim_awdt_wire(w);
    uint32_t dl = w->clock + seconds < w->clock ? UINT32_MAX : w->clock + seconds;
    molt_err_t e = molt_awdt_provision(&w->area, dl, boots);
    if (e == MOLT_OK)
        w->on = true;
    return e;
}

const molt_awdt_cfg_t *sim_awdt_cfg(sim_awdt_t *w) { return w->on ? &w->cfg : NULL; }

void sim_awdt_reset(sim_awdt_t *w)
{
    w->nonce_out = false;
    memset(w->nonce, 0, sizeof w->nonce);
    w->armed = false;
}

molt_err_t sim_awdt_status(sim_awdt_t *w, molt_awdt_state_t *st, uint32_t *boots)
{
    memset(st, 0, sizeof *st);
    *boots = 0;
    if (!w->on)
        return MOLT_E_STATE;
    molt_err_t e = molt_awdt_load(&w->area, st, boots);
    st->nonce_out = w->nonce_out;
    memcpy(st->nonce, w->nonce, sizeof st->nonce);
    st->nonce_time = w->nonce_time;
    st->nonce_boot = w->nonce_boot;
    return e;
}

molt_err_t sim_awdt_nonce(sim_awdt_t *w, uint8_t nonce[MOLT_AWDT_NONCE_LEN])
{
    molt_awdt_state_t st;
    uint32_t boots;
    molt_err_t e = sim_awdt_status(w, &st, &boots);
    if (e == MOLT_OK)
        e = molt_awdt_nonce(&st, w_random, NULL, w->clock, boots);
    if (e != MOLT_OK)
        return e;
    w->nonce_out = true;
    memcpy(w->nonce, st.nonce, sizeof w->nonce);
    w->nonce_time = st.nonce_time;
    w->nonce_boot = st.nonce_boot;
    memcpy(nonce, st.nonce, MOLT_AWDT_NONCE_LEN);
    return MOLT_OK;
}

molt_err_t sim_awdt_ticket(sim_awdt_t *w, const uint8_t *ticket, size_t len)
{
    molt_awdt_state_t st;
    uint32_t boots;
    molt_err_t e = sim_awdt_status(w, &st, &boots);
    if (e == MOLT_OK)
        e = molt_awdt_accept(&w->area, &w->pol, &st, ticket, len, w->clock);
    if (e == MOLT_OK) {
        w->nonce_out = false; /* consumed */
        memset(w->nonce, 0, sizeof w->nonce);
        if (w->armed) /* the update service re-arms the hardware watchdog for the new deadline */
            w->fires_at = st.deadline;
    }
    return e;
}

bool sim_awdt_advance(sim_awdt_t *w, uint32_t secs)
{
    uint32_t to = w->clock + secs < w->clock ? UINT32_MAX : w->clock + secs;
    if (w->on && w->armed && to >= w->fires_at) {
        w->clock = w->fires_at > w->clock ? w->fires_at : w->clock;
        return true;
    }
    w->clock = to;
    return false;
}

/* --- device file section --- */

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4u; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void sim_awdt_serialize(const sim_awdt_t *w, uint8_t out[SIM_AWDT_FILE_SIZE])
{
    uint8_t *p = out;
    memset(out, 0, SIM_AWDT_FILE_SIZE);
    memcpy(p, FILE_MAGIC, 8);
    put32(p + 8, (w->on ? F_ON : 0u) | (w->armed ? F_ARMED : 0u) | (w->nonce_out ? F_NONCE : 0u) |
                     (w->recovery ? F_RECOVERY : 0u));
    put32(p + 12, w->key_len);
    p += 16;
    memcpy(p, w->mem, sizeof w->mem);
    p += sizeof w->mem;
    const uint32_t v[9] = {w->clock,     w->fires_at,  w->nonce_time, w->nonce_boot,  w->max_seconds,
                           w->max_boots, w->nonce_ttl, w->exit_seconds, w->exit_boots};
    for (unsigned i = 0; i < 9u; i++, p += 4)
        put32(p, v[i]);
    memcpy(p, w->nonce, sizeof w->nonce);
    p += sizeof w->nonce;
    memcpy(p, w->key_der, sizeof w->key_der);
    p += sizeof w->key_der + 1u;
    memcpy(p, w->device_id, sizeof w->device_id);
    p += sizeof w->device_id;
    put32(p, sim_crc32(0, out, (size_t)(p - out)));
}

bool sim_awdt_deserialize(sim_awdt_t *w, const uint8_t in[SIM_AWDT_FILE_SIZE])
{
    const uint8_t *p = in;
    memset(w, 0, sizeof *w);
    if (memcmp(p, FILE_MAGIC, 8) != 0 || get32(in + SIM_AWDT_FILE_SIZE - 4u) != sim_crc32(0, in, SIM_AWDT_FILE_SIZE - 4u))
        return false;
    uint32_t f = get32(p + 8);
    w->key_len = get32(p + 12);
    if (f > 15u || w->key_len > sizeof w->key_der)
        return false;
    w->on = (f & F_ON) != 0u;
    w->armed = (f & F_ARMED) != 0u;
    w->nonce_out = (f & F_NONCE) != 0u;
    w->recovery = (f & F_RECOVERY) != 0u;
    p += 16;
    memcpy(w->mem, p, sizeof w->mem);
    p += sizeof w->mem;
    uint32_t *v[9] = {&w->clock,     &w->fires_at,  &w->nonce_time, &w->nonce_boot,  &w->max_seconds,
                      &w->max_boots, &w->nonce_ttl, &w->exit_seconds, &w->exit_boots};
    for (unsigned i = 0; i < 9u; i++, p += 4)
        *v[i] = get32(p);
    memcpy(w->nonce, p, sizeof w->nonce);
    p += sizeof w->nonce;
    memcpy(w->key_der, p, sizeof w->key_der);
    p += sizeof w->key_der + 1u;
    memcpy(w->device_id, p, sizeof w->device_id);
    sim_awdt_wire(w);
    return true;
}
