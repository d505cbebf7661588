/*
 * port.h - molt_port_t for the mps2 boards, the boot stage's hand-over record, reset.
 *
 * Shared by the boot stage (boot_main.c) and the sample application (app_main.c):
 * both drive the same flash (flash.c) and protected area (protarea.c).
 */
#ifndef MPS2_PORT_H
#define MPS2_PORT_H

#include <stdint.h>

#include "molt/boot.h"
#include "molt/port.h"

/* What the boot stage leaves at HANDOVER_ADDR for the application (MCUboot's
 * shared data): this boot's result, and the boot stage's own measurements. */
#define HANDOVER_MAGIC 0x4f484f4du /* "MOHO" */
typedef struct mps2_handover {
    uint32_t magic;
    molt_boot_result_t res;
    uint32_t boot_insns;      /* instructions from reset to the jump (under -icount shift=0); 0: not measured */
    uint32_t boot_stack_peak; /* bytes of the boot stage's stack ever used (painted); 0: not measured */
    uint32_t crc;             /* CRC-32 of the bytes before it */
} mps2_handover_t;

/* Fill port (areas, NV counter, trusted keys from the protected area). */
molt_err_t mps2_port_init(molt_port_t *port);

/* The one configuration this port runs: swap with a progress journal. */
extern const molt_boot_cfg_t mps2_boot_cfg;

/* The hand-over record if the boot stage left a valid one, else NULL. */
const mps2_handover_t *mps2_handover(void);

__attribute__((noreturn)) void mps2_reset(void); /* SYSRESETREQ */

/* CMSDK TIMER0 as a free-running counter (instructions under -icount shift=0). */
void mps2_timer_start(void);
uint32_t mps2_timer_insns(void);

const char *mps2_action_name(molt_boot_action_t a);

#endif
