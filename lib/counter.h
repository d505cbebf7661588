/*
 * counter.h - internal: the security counter (rollback index) over the port.
 *
 * R-ROLLBACK: the stored value only ever increases, and only the boot code
 * advances it, for a confirmed image. Port failures map to MOLT_E_NV.
 */
#ifndef MOLT_LIB_COUNTER_H
#define MOLT_LIB_COUNTER_H

#include <stdint.h>

#include "molt/image.h"
#include "molt/port.h"

molt_err_t molt_counter_get(const molt_port_t *port, uint32_t *value);
/* The one place the counter moves: raise it to the security counter of img,
 * an image that runs confirmed (boot code, or psa_fwu_accept for the trial it
 * accepts). Equal is a no-op, lower is MOLT_E_ROLLBACK, no counter TLV is 0. */
molt_err_t molt_counter_commit(const molt_port_t *port, const molt_image_t *img);

#endif
