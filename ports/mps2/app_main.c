/*
 * app_main.c - the sample application: updates itself through the PSA FWU API.
 *
 * Built three times from this file: v1 and v2 healthy, v3 with MPS2_APP_BROKEN (its
 * self-test fails, standing in for a build that does not work on the device). At
 * every start it asks psa_fwu_query() what state component 0 is in and acts:
 *   TRIAL    run the health check: pass -> psa_fwu_accept() (the image becomes
 *            permanent and the security counter advances); fail -> psa_fwu_reject()
 *            and reboot, and the boot stage reverts to the previous image;
 *   FAILED   report why (a revert, a refused staged image) and psa_fwu_clean();
 *   UPDATED  psa_fwu_clean() (the accepted update's leftovers), then as READY;
 *   READY    if the host offers update.img (semihosting file: the "download"),
 *            stream it with psa_fwu_start/write/finish, which verifies it (signature,
 *            rollback), then psa_fwu_install() and psa_fwu_request_reboot();
 *            a refused image is reported with its PSA status and molt reason.
 * Each start prints one "molt-app:" line per step and exits with 0 when it has
 * nothing left to do (QEMU exits), so each QEMU run is one update cycle.
 */
#include <string.h>

#include "board.h"
#include "flash.h"
#include "molt/fwu.h"
#include "port.h"
#include "semihost.h"
#include "uart.h"

#ifndef APP_NAME
#define APP_NAME "app"
#endif

#define HEALTH_FAILED ((psa_status_t)0x4845) /* our reason for psa_fwu_reject() */

static molt_fwu_t g_fwu;

static void say(const char *a, const char *b)
{
    uart_puts("molt-app: " APP_NAME " ");
    uart_puts(a);
    if (b != NULL)
        uart_puts(b);
}

static const char *state_name(uint8_t s)
{
    static const char *const n[] = {"READY", "WRITING", "CANDIDATE", "STAGED", "FAILED", "TRIAL", "REJECTED", "UPDATED"};
    return s < 8u ? n[s] : "?";
}

/* Positive values are molt's reasons (molt_err_t); others are PSA statuses or ours. */
static void put_reason(psa_status_t e)
{
    if (e == HEALTH_FAILED)
        uart_puts("HEALTH_FAILED");
    else if (e > 0)
        uart_puts(molt_err_name((molt_err_t)e));
    else {
        uart_puts("psa ");
        uart_putu((uint32_t)-e);
    }
}

static void reboot(void *ctx)
{
    (void)ctx;
    say("rebooting\n", NULL);
    flash_close();
    mps2_reset();
}

/* The health check: a self-test a real product would run (peripherals, server
 * reachable, ...). MPS2_APP_BROKEN makes it fail. */
static int healthy(void)
{
#ifdef MPS2_APP_BROKEN
    return 0;
#else
    return 1;
#endif
}

static int download(void)
{
    static uint8_t buf[1024];
    psa_status_t st;
    int fd = sh_open("update.img", SH_RB);

    if (fd < 0) {
        say("state=READY nothing offered\n", NULL);
        return 0;
    }
    long size = sh_flen(fd);
    say("downloading update.img\n", NULL);
    st = psa_fwu_start(0, NULL, 0);
    for (long off = 0; st == PSA_SUCCESS && off < size; off += (long)sizeof buf) {
        size_t n = (size_t)(size - off) < sizeof buf ? (size_t)(size - off) : sizeof buf;
        if (sh_read(fd, buf, n) != 0) {
            (void)sh_close(fd);
            say("update.img: read failed\n", NULL);
            (void)psa_fwu_cancel(0);
            (void)psa_fwu_clean(0);
            return 1;
        }
        st = psa_fwu_write(0, (size_t)off, buf, n);
    }
    (void)sh_close(fd);
    if (st == PSA_SUCCESS)
        st = psa_fwu_finish(0);
    if (st != PSA_SUCCESS) {
        psa_fwu_component_info_t info;
        (void)psa_fwu_query(0, &info);
        say("refused status=", NULL);
        uart_puts("-");
        uart_putu((uint32_t)-st);
        uart_puts(" reason=");
        put_reason(info.error);
        uart_puts("\n");
        if (info.state == PSA_FWU_WRITING)
            (void)psa_fwu_cancel(0);
        (void)psa_fwu_clean(0);
        return 0;
    }
    if ((st = psa_fwu_install()) != PSA_SUCCESS_REBOOT) {
        say("install failed\n", NULL);
        return 1;
    }
    say("installed, trial at next reset\n", NULL);
    (void)psa_fwu_request_reboot();
    return 1; /* not reached */
}

int main(void)
{
    static molt_port_t port;
    const mps2_handover_t *ho;
    psa_fwu_component_info_t info;
    molt_err_t err;

    uart_init();
    if (flash_init(false) != MOLT_OK || mps2_port_init(&port) != MOLT_OK) {
        say("cannot open the flash\n", NULL);
        return 1;
    }
    ho = mps2_handover();
    if ((err = molt_fwu_init(&g_fwu, &port, &mps2_boot_cfg, ho != NULL ? &ho->res : NULL)) != MOLT_OK) {
        say("molt_fwu_init: ", molt_err_name(err));
        uart_puts("\n");
        return 1;
    }
    molt_fwu_set_reboot(&g_fwu, reboot, NULL);
    molt_fwu_bind(&g_fwu);
    if (psa_fwu_query(0, &info) != PSA_SUCCESS) {
        say("query failed\n", NULL);
        return 1;
    }
    say("running version=", NULL);
    uart_putu(info.version.major);
    uart_puts(".");
    uart_putu(info.version.minor);
    uart_puts(".");
    uart_putu(info.version.patch);
    uart_puts(" state=");
    uart_puts(state_name(info.state));
    uart_puts("\n");

    switch (info.state) {
    case PSA_FWU_TRIAL:
        if (healthy()) {
            psa_status_t st = psa_fwu_accept();
            say(st == PSA_SUCCESS ? "health check passed, accepted\n" : "accept failed\n", NULL);
            flash_close();
            return st == PSA_SUCCESS ? 0 : 1;
        }
        say("health check failed, rejecting\n", NULL);
        (void)psa_fwu_reject(HEALTH_FAILED);
        (void)psa_fwu_request_reboot();
        return 1;
    case PSA_FWU_FAILED:
        say("previous update failed reason=", NULL);
        put_reason(info.error);
        uart_puts("\n");
        (void)psa_fwu_clean(0);
        flash_close();
        return 0;
    case PSA_FWU_STAGED:
        (void)psa_fwu_request_reboot();
        return 1;
    case PSA_FWU_UPDATED: /* the last update was accepted: erase its leftovers, then as READY */
        if (psa_fwu_clean(0) != PSA_SUCCESS) {
            say("clean failed\n", NULL);
            flash_close();
            return 1;
        }
        /* fall through */
    case PSA_FWU_READY: {
        int rc = download();
        flash_close();
        return rc;
    }
    default:
        say("unexpected state\n", NULL);
        flash_close();
        return 1;
    }
}
