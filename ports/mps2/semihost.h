/*
 * semihost.h - Arm semihosting (bkpt 0xab): console, host files, exit.
 * QEMU runs with -semihosting-config enable=on,target=native.
 */
#ifndef MPS2_SEMIHOST_H
#define MPS2_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#define SH_RB 1   /* fopen modes */
#define SH_RPB 3
#define SH_WB 5

int sh_open(const char *name, int mode);        /* fd, or -1 */
int sh_close(int fd);
long sh_flen(int fd);                           /* bytes, or -1 */
int sh_seek(int fd, uint32_t pos);              /* 0 on success */
int sh_read(int fd, void *buf, size_t len);     /* 0 when all len bytes were read */
int sh_write(int fd, const void *buf, size_t len); /* 0 when all len bytes were written */
void sh_write0(const char *s);
__attribute__((noreturn)) void sh_exit(int code);

#endif
