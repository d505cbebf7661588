/*
 * fwu_int.h - internal: what lib/fwu_remap.c needs of lib/fwu.c.
 */
#ifndef MOLT_LIB_FWU_INT_H
#define MOLT_LIB_FWU_INT_H

#include "molt/fwu.h"

/* molt_fwu_add() for an image component: ab NULL (SWAP) or the A/B hooks (REMAP). */
molt_err_t molt_fwu_add_ab(molt_fwu_t *fwu, psa_fwu_component_t id, const molt_port_t *port,
                           const molt_boot_cfg_t *cfg, const molt_boot_result_t *boot, const molt_fwu_ab_t *ab);

#endif
