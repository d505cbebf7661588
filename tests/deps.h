/*
 * deps.h - tests: a second image on the simulated device, at version 1.2.3,
 * for images that declare a DEPENDENCY on image 1 (imgtool's p20 declares
 * image 1 >= 1.2.3). test_boot and test_fwu check the refusals.
 */
#ifndef MOLT_TESTS_DEPS_H
#define MOLT_TESTS_DEPS_H

#include "molt/boot.h"

static inline molt_err_t test_image1_at_123(void *ctx, uint8_t id, const molt_version_t *min)
{
    const molt_version_t have = {1, 2, 3, 0};
    (void)ctx;
    return id == 1u && molt_version_cmp(&have, min) >= 0 ? MOLT_OK : MOLT_E_DEPENDENCY;
}

static const molt_deps_t test_deps = {test_image1_at_123, NULL};

#endif
