/*
 * boot_main.c - the boot stage: molt_boot_go() over the mps2 port, then the jump.
 *
 * It resumes an interrupted activation, acts on the application's request (trial,
 * revert), verifies the image that will run (SHA-256 + ECDSA-P256 against the key
 * store) and hands over to PRIMARY: the hand-over record for the application, VTOR,
 * MSP and the reset vector of the verified image, with interrupts off and the
 * boot stage's flash file closed. With no verified image it stays in a secure
 * state: no code from the slots runs (exit 70, QEMU's stand-in for halting).
 * One line on the console says what happened; the demo's table is built from it.
 * Reasons are printed as molt_err_t numbers: the name table (lib/error.c, 2.9 KB)
 * stays out of the boot stage.
 *
 * Built with MPS2_MEASURE (Makefile MEASURE=1, the bench's flavour) it also counts the
 * instructions from reset to the jump (CMSDK TIMER0 under QEMU -icount) and the painted
 * stack's peak, prints them ("insns=... stack=...") and leaves them in the hand-over
 * record; the product flavour (MEASURE=0, the default) carries no instrumentation.
 *
 * What the linker keeps: molt_boot_go_with() runs only the mode named in
 * cfg.activate, so the other modes' code is never linked; decryption is linked only
 * in the MPS2_ENC build, the one place that names molt_enc_ops (port.enc_ops).
 */
#include <string.h>

#include "board.h"
#ifdef MPS2_ENC
#include "enc_port.h"
#endif
#include "flash.h"
#include "molt/boot.h"
#include "port.h"
#include "protarea.h"
#include "semihost.h"
#include "startup.h"
#include "uart.h"

static void put_version(const molt_version_t *v)
{
    uart_putu(v->major);
    uart_puts(".");
    uart_putu(v->minor);
    uart_puts(".");
    uart_putu(v->revision);
}

__attribute__((noreturn)) static void jump(uint32_t vt)
{
    uint32_t sp = ((const uint32_t *)(uintptr_t)vt)[0], pc = ((const uint32_t *)(uintptr_t)vt)[1];
    volatile uint32_t *icer = (volatile uint32_t *)0xe000e180u, *icpr = (volatile uint32_t *)0xe000e280u;

    __asm__ volatile("cpsid i" ::: "memory");
    *(volatile uint32_t *)0xe000e010u = 0; /* SysTick off */
    for (int i = 0; i < 16; i++) {
        icer[i] = 0xffffffffu;
        icpr[i] = 0xffffffffu;
    }
    *(volatile uint32_t *)0xe000ed08u = vt; /* VTOR */
    __asm__ volatile("msr msp, %0\n"
                     "dsb\n"
                     "isb\n"
                     "cpsie i\n"
                     "bx %1\n" ::"r"(sp),
                     "r"(pc)
                     : "memory");
    __builtin_unreachable();
}

int main(void)
{
    static molt_port_t port;
    static mps2_handover_t ho;
    molt_boot_result_t res;
    molt_err_t err;

#ifdef MPS2_MEASURE
    mps2_timer_start();
#endif
    uart_init();
    if ((err = flash_init(true)) != MOLT_OK) {
        uart_puts("molt-boot: flash.bin: cannot open or wrong size\n");
        return 2;
    }
    if ((err = mps2_port_init(&port)) != MOLT_OK) {
        uart_puts("molt-boot: key store damaged: secure state\n");
        return 70;
    }
#ifdef MPS2_ENC
    port.enc_ecdh = mps2_enc_ecdh; /* the CRYPTO=enc build takes encrypted images (ENC_EC256) */
    port.enc_ops = &molt_enc_ops;  /* ... with lib/enc.c's decryption */
#endif
    molt_boot_cfg_t cfg = mps2_boot_cfg;
#if defined(MPS2_MODE_REMAP)
    cfg.activate = molt_boot_remap; /* size-only build (bench/mps2.sh) */
#elif defined(MPS2_MODE_OVERWRITE)
    cfg.activate = molt_boot_overwrite; /* size-only build (bench/mps2.sh) */
#else
    cfg.activate = molt_boot_swap;
#endif
    memset(&res, 0, sizeof res);
    err = molt_boot_go_with(&port, &cfg, &res);
#ifdef MPS2_MEASURE
    uint32_t insns = mps2_timer_insns();
    uint32_t peak = stack_peak();
#else
    uint32_t insns = 0, peak = 0; /* not measured */
#endif
    if (err != MOLT_OK) {
        uart_puts("molt-boot: " BOARD_NAME " no verified image (molt_err_t ");
        uart_putu((uint32_t)err);
        uart_puts("): secure state\n");
        flash_close();
        return 70;
    }
    uart_puts("molt-boot: " BOARD_NAME " action=");
    uart_puts(mps2_action_name(res.action));
    uart_puts(" version=");
    put_version(&res.image.version);
    uart_puts(" trial=");
    uart_putu(res.trial);
    uart_puts(" counter=");
    uart_putu(res.counter);
    uart_puts(" staged=");
    uart_putu((uint32_t)res.staged_err); /* a molt_err_t (include/molt/error.h), 0 = none refused */
#ifdef MPS2_MEASURE
    uart_puts(" insns=");
    uart_putu(insns);
    uart_puts(" stack=");
    uart_putu(peak);
#endif
#if defined(MPS2_ENC) && defined(MPS2_MEASURE)
    uart_puts(" heap=");
    uart_putu((uint32_t)mps2_heap_peak());
#endif
    uart_puts("\n");

    uint32_t vt = FLASH_BASE + PRIMARY_OFF + res.image.hdr_size;
    const uint32_t *v = (const uint32_t *)(uintptr_t)vt;
    if (res.slot != MOLT_AREA_PRIMARY || vt != APP_ENTRY || (v[1] & 1u) == 0u ||
        v[1] < vt || v[1] >= FLASH_BASE + PRIMARY_OFF + PRIMARY_SIZE) {
        uart_puts("molt-boot: verified image has no valid vector table: secure state\n");
        flash_close();
        return 70;
    }
    ho = (mps2_handover_t){.magic = HANDOVER_MAGIC, .res = res, .boot_insns = insns, .boot_stack_peak = peak};
    ho.crc = pa_crc32((const uint8_t *)&ho, offsetof(mps2_handover_t, crc));
    memcpy((void *)(uintptr_t)HANDOVER_ADDR, &ho, sizeof ho);
    flash_close();
    jump(vt);
}
