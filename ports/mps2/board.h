/*
 * board.h - memory map of the mps2 port (QEMU mps2-an386 Cortex-M4, mps2-an505 Cortex-M33;
 * mps2-an385, Cortex-M3, for the bench).
 *
 * The board's code memory (ZBT SSRAM1, 4 MiB; on the AN505 its Secure alias) plays the
 * internal NOR flash, 4 KiB sectors, 8-byte program unit (ports/mps2/flash.c enforces the
 * NOR rules). Layout, as offsets from FLASH_BASE:
 *   0x00000  boot stage (64 KiB, immutable: QEMU loads it with -kernel)
 *   0x10000  key store sector   } the protected area (keystore.c):
 *   0x11000  NV counter sector  } trusted keys and the security counter
 *   0x12000  STATUS area (2 sectors: the boot record's two halves)
 *   0x20000  PRIMARY slot, 288 KiB (the application executes here, its vectors at +HDR)
 *   0x68000  SECONDARY slot, 292 KiB (one sector more: swap staging starts a sector in)
 *   0xb1000  end of the persistent part
 * [0x10000, 0xb1000) is mirrored in the host file flash.bin (semihosting), so it survives
 * a power cycle (a new QEMU process), and any write or erase reaches it at once.
 * RAM: RAM_BASE + 0: the boot stage's hand-over record; boot stage RAM [0x100, 0x10000);
 * application RAM from 0x10000.
 */
#ifndef MPS2_BOARD_H
#define MPS2_BOARD_H

#if defined(MPS2_AN505)
#define FLASH_BASE 0x10000000u /* SSRAM1, Secure alias: the core boots Secure */
#define RAM_BASE 0x38000000u   /* SSRAM2/3, Secure alias */
#define UART0_BASE 0x50200000u
#define TIMER0_BASE 0x50000000u
#define TIMER_INSNS 50u /* -icount shift=0: one 20 MHz tick per 50 instructions */
#define BOARD_NAME "mps2-an505"
#else
#define FLASH_BASE 0x00000000u
#define RAM_BASE 0x20000000u
#define UART0_BASE 0x40004000u
#define TIMER0_BASE 0x40000000u
#define TIMER_INSNS 40u /* 25 MHz */
#if defined(MPS2_AN385)
#define BOARD_NAME "mps2-an385" /* Cortex-M3, the AN386's memory map */
#else
#define BOARD_NAME "mps2-an386"
#endif
#endif

#define SECTOR_SIZE 0x1000u
#define WRITE_ALIGN 8u

#define BOOT_OFF 0x00000u
#define KEYS_OFF 0x10000u
#define NVCNT_OFF 0x11000u
#define STATUS_OFF 0x12000u
#define STATUS_SIZE 0x2000u /* two sectors: the halves of the boot record (lib/bootrec.h) */
#define PRIMARY_OFF 0x20000u
#define PRIMARY_SIZE 0x48000u
#define SECONDARY_OFF 0x68000u
#define SECONDARY_SIZE 0x49000u
#define PERSIST_OFF KEYS_OFF
#define PERSIST_END (SECONDARY_OFF + SECONDARY_SIZE)

#define IMAGE_HDR_SIZE 0x200u /* the application's vector table follows its 512-byte header */
#define APP_ENTRY (FLASH_BASE + PRIMARY_OFF + IMAGE_HDR_SIZE)

#define HANDOVER_ADDR RAM_BASE

#endif
