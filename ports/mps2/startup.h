/* startup.h - what startup.c offers the images. */
#ifndef MPS2_STARTUP_H
#define MPS2_STARTUP_H

#include <stdint.h>

uint32_t stack_peak(void); /* bytes of this image's stack ever used since reset (painted; MPS2_MEASURE only) */

#endif
