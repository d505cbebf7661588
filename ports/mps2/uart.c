/* uart.c - see uart.h. Polled transmit; no receive (updates arrive as host files). */
#include "uart.h"
#include "board.h"

#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x0u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x4u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x8u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))

void uart_init(void)
{
    UART_BAUDDIV = 16u; /* the minimum the CMSDK UART takes */
    UART_CTRL = 1u;     /* TX enable */
}

static void putc_(char c)
{
    while (UART_STATE & 1u) /* TX buffer full */
        ;
    UART_DATA = (uint32_t)(unsigned char)c;
}

void uart_puts(const char *s)
{
    while (*s)
        putc_(*s++);
}

void uart_putu(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && i > 0);
    uart_puts(b + i);
}

void uart_puthex(uint32_t v)
{
    char b[11] = "0x";
    for (int i = 0; i < 8; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xfu];
    b[10] = 0;
    uart_puts(b);
}
