/* port.c - the mps2 molt_port_t (see port.h). */
#include <stddef.h>

#include <psa/crypto.h>

#include "board.h"
#include "flash.h"
#include "port.h"
#include "protarea.h"

/* SWAP; the size-only links of bench/mps2.sh build the boot stage for the other modes
 * (MPS2_MODE_REMAP, MPS2_MODE_OVERWRITE: linked and measured, never run here). */
#if defined(MPS2_MODE_REMAP)
const molt_boot_cfg_t mps2_boot_cfg = {.mode = MOLT_MODE_REMAP, .downgrade_prevention = false};
#elif defined(MPS2_MODE_OVERWRITE)
const molt_boot_cfg_t mps2_boot_cfg = {.mode = MOLT_MODE_OVERWRITE, .downgrade_prevention = false};
#else
const molt_boot_cfg_t mps2_boot_cfg = {.mode = MOLT_MODE_SWAP, .downgrade_prevention = false};
#endif

static flash_window_t g_win[MOLT_AREA_COUNT];
static molt_key_t g_keys[PA_MAX_KEYS];

molt_err_t mps2_port_init(molt_port_t *port)
{
    size_t n;
    molt_err_t err;

    *port = (molt_port_t){0};
    flash_area(&port->area[MOLT_AREA_PRIMARY], &g_win[0], PRIMARY_OFF, PRIMARY_SIZE);
    flash_area(&port->area[MOLT_AREA_SECONDARY], &g_win[1], SECONDARY_OFF, SECONDARY_SIZE);
    flash_area(&port->area[MOLT_AREA_STATUS], &g_win[2], STATUS_OFF, STATUS_SIZE);
    port->nv_read = pa_nv_read;
    port->nv_advance = pa_nv_advance;
    if ((err = pa_keys_load(g_keys, &n)) != MOLT_OK)
        return err;
    port->keys = (molt_keyring_t){g_keys, n};
    return MOLT_OK;
}

const mps2_handover_t *mps2_handover(void)
{
    const mps2_handover_t *h = (const mps2_handover_t *)(uintptr_t)HANDOVER_ADDR;
    if (h->magic != HANDOVER_MAGIC || h->crc != pa_crc32((const uint8_t *)h, offsetof(mps2_handover_t, crc)))
        return NULL;
    return h;
}

void mps2_reset(void)
{
    volatile uint32_t *aircr = (volatile uint32_t *)0xe000ed0cu;
    __asm__ volatile("dsb" ::: "memory");
    *aircr = 0x05fa0004u; /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        ;
}

#define TIMER_CTRL (*(volatile uint32_t *)(TIMER0_BASE + 0x0u))
#define TIMER_VALUE (*(volatile uint32_t *)(TIMER0_BASE + 0x4u))
#define TIMER_RELOAD (*(volatile uint32_t *)(TIMER0_BASE + 0x8u))

void mps2_timer_start(void)
{
    TIMER_CTRL = 0;
    TIMER_RELOAD = 0xffffffffu;
    TIMER_VALUE = 0xffffffffu;
    TIMER_CTRL = 1u; /* enable, internal clock, no interrupt */
}

uint32_t mps2_timer_insns(void)
{
    return (0xffffffffu - TIMER_VALUE) * TIMER_INSNS;
}

const char *mps2_action_name(molt_boot_action_t a)
{
    switch (a) {
    case MOLT_ACT_NONE: return "boot";
    case MOLT_ACT_UPGRADE_TEST: return "upgrade-test";
    case MOLT_ACT_UPGRADE_PERM: return "upgrade-perm";
    case MOLT_ACT_REVERT: return "revert";
    case MOLT_ACT_REFUSED: return "refused";
    default: return "?";
    }
}

/* Mbed TLS's entropy hook (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG). QEMU's mps2 boards have no
 * TRNG, and the boot stage and the update API only verify (public data: no randomness
 * needed), so this port has no random source and says so; a port with a TRNG (or
 * encrypted images / attestation) must return real entropy here. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length)
{
    (void)context;
    (void)output;
    (void)output_size;
    *output_length = 0;
    return PSA_ERROR_INSUFFICIENT_ENTROPY;
}
