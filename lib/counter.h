/*
 * counter.h - internal: the security counter (rollback index) over the port.
 *
 * R-ROLLBACK: the stored value only ever increases, and only the boot code
 * advances it, for a confirmed image. Port failures map to MOLT_E_NV.
 */
#ifndef MOLT_LIB_COUNTER_H
#define MOLT_LIB_COUNTER_H

#include <stdint.h>

#include "molt/port.h"

molt_err_t molt_counter_get(const molt_port_t *port, uint32_t *value);
/* Raise the counter to value; equal is a no-op, lower is MOLT_E_ROLLBACK. */
molt_err_t molt_counter_advance(const molt_port_t *port, uint32_t value);

#endif
