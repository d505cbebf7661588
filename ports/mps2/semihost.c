/* semihost.c - see semihost.h. */
#include "semihost.h"

static int call(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *name, int mode)
{
    uint32_t n = 0;
    while (name[n] != 0)
        n++;
    uint32_t blk[3] = {(uint32_t)name, (uint32_t)mode, n};
    return call(0x01, blk);
}

int sh_close(int fd)
{
    uint32_t blk[1] = {(uint32_t)fd};
    return call(0x02, blk);
}

long sh_flen(int fd)
{
    uint32_t blk[1] = {(uint32_t)fd};
    return call(0x0c, blk);
}

int sh_seek(int fd, uint32_t pos)
{
    uint32_t blk[2] = {(uint32_t)fd, pos};
    return call(0x0a, blk);
}

int sh_read(int fd, void *buf, size_t len)
{
    uint32_t blk[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
    return call(0x06, blk);
}

int sh_write(int fd, const void *buf, size_t len)
{
    uint32_t blk[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
    return call(0x05, blk);
}

void sh_write0(const char *s)
{
    call(0x04, (void *)s);
}

void sh_exit(int code)
{
    uint32_t blk[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    for (;;)
        call(0x20, blk); /* SYS_EXIT_EXTENDED: QEMU exits with code */
}
