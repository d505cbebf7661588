/*
 * counter.c - read and advance the security counter (see counter.h).
 *
 * The port makes an advance atomic under power loss; this file adds the
 * policy: never ask for a decrease (R-ROLLBACK), never write when nothing
 * changes (NV counter storage wears too).
 */
#include "counter.h"

molt_err_t molt_counter_get(const molt_port_t *port, uint32_t *value)
{
    if (port->nv_read == NULL)
        return MOLT_E_NV;
    return port->nv_read(port->ctx, MOLT_NV_SECURITY_COUNTER, value) == MOLT_OK ? MOLT_OK : MOLT_E_NV;
}

molt_err_t molt_counter_commit(const molt_port_t *port, const molt_image_t *img)
{
    uint32_t cur, value = img->has_sec_cnt ? img->sec_cnt : 0u;
    molt_err_t err = molt_counter_get(port, &cur);

    if (err != MOLT_OK)
        return err;
    if (value < cur)
        return MOLT_E_ROLLBACK;
    if (value == cur)
        return MOLT_OK;
    if (port->nv_advance == NULL)
        return MOLT_E_NV;
    return port->nv_advance(port->ctx, MOLT_NV_SECURITY_COUNTER, value) == MOLT_OK ? MOLT_OK : MOLT_E_NV;
}
