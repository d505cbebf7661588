/*
 * startup.c - vector table and reset handler of both images (boot stage and application).
 *
 * Reset: copy .data from its load address, zero .bss, call main(), exit through
 * semihosting with its status. Faults exit with 98.
 * Built with MPS2_MEASURE (the bench's flavour, Makefile MEASURE=1) it also paints the
 * free stack at reset, so the peak can be measured (stack_peak()), and a fault prints the
 * fault status registers first: instrumentation a product boot stage does without.
 */
#include <stdint.h>
#include <string.h>

#include "semihost.h"
#include "startup.h"
#include "uart.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_limit, __stack_top;
extern int main(void);

#define PAINT 0x5afe57acu

void reset_handler(void);
void fault_handler(void);
static void default_handler(void);

/* The 16 system exceptions only: neither image enables an interrupt (the boot stage hands
 * over with every NVIC line disabled and pending bits cleared), and the application's
 * VTOR points at its own table. */
__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top,
    reset_handler,
    default_handler, /* NMI */
    fault_handler,   /* HardFault */
    fault_handler,   /* MemManage */
    fault_handler,   /* BusFault */
    fault_handler,   /* UsageFault */
    fault_handler,   /* SecureFault (v8-M) */
};

__attribute__((naked, noreturn)) void reset_handler(void)
{
#ifdef MPS2_MEASURE
    /* Paint the stack below the current SP first, before anything uses it. */
    __asm__ volatile("ldr r0, =__stack_limit\n"
                     "mov r1, sp\n"
                     "sub r1, r1, #16\n"
                     "ldr r2, =0x5afe57ac\n"
                     "1: cmp r0, r1\n"
                     "bhs 2f\n"
                     "str r2, [r0], #4\n"
                     "b 1b\n"
                     "2: b reset_c\n"
                     ".ltorg\n"); /* the literals right here: an LTO partition can be larger than ldr's reach */
#else
    __asm__ volatile("b reset_c\n");
#endif
}

__attribute__((used, noreturn)) void reset_c(void);
void reset_c(void)
{
    memcpy(&__data_start, &__data_load, (size_t)((uintptr_t)&__data_end - (uintptr_t)&__data_start));
    memset(&__bss_start, 0, (size_t)((uintptr_t)&__bss_end - (uintptr_t)&__bss_start));
    sh_exit(main());
}

#ifdef MPS2_MEASURE
uint32_t stack_peak(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == PAINT)
        p++;
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}
#endif

__attribute__((used)) void fault_report(const uint32_t *frame);

__attribute__((naked)) void fault_handler(void)
{
    __asm__ volatile("tst lr, #4\n"
                     "ite eq\n"
                     "mrseq r0, msp\n"
                     "mrsne r0, psp\n"
                     "b fault_report\n");
}

void fault_report(const uint32_t *frame)
{
#ifdef MPS2_MEASURE
    volatile uint32_t *scb = (volatile uint32_t *)0xe000ed00u;
    uart_puts("fault: PC=");
    uart_puthex(frame[6]);
    uart_puts(" LR=");
    uart_puthex(frame[5]);
    uart_puts(" CFSR=");
    uart_puthex(scb[0x28 / 4]);
    uart_puts(" HFSR=");
    uart_puthex(scb[0x2c / 4]);
    uart_puts(" BFAR=");
    uart_puthex(scb[0x38 / 4]);
    uart_puts("\n");
#else
    (void)frame;
    uart_puts("fault\n");
#endif
    sh_exit(98);
}

static void default_handler(void)
{
    uart_puts("fault: unexpected exception\n");
    sh_exit(99);
}
