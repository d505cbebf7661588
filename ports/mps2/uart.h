/* uart.h - CMSDK APB UART0 console (QEMU: -serial stdio), and a tiny formatter. */
#ifndef MPS2_UART_H
#define MPS2_UART_H

#include <stdint.h>

void uart_init(void);
void uart_puts(const char *s);
void uart_putu(uint32_t v);
void uart_puthex(uint32_t v);

#endif
