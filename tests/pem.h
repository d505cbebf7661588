/*
 * pem.h - PEM to DER for host tests (base64 body between the BEGIN/END lines).
 */
#ifndef MOLT_TEST_PEM_H
#define MOLT_TEST_PEM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

/* DER of the first PEM block in pem (NUL-terminated); malloc'd, NULL on error. */
static inline uint8_t *pem_to_der(const char *pem, size_t *len)
{
    const char *b = strstr(pem, "-----BEGIN"), *e;
    if (!b || !(b = strchr(b, '\n')) || !(e = strstr(b, "-----END")))
        return NULL;
    size_t n = (size_t)(e - b), j = 0;
    char *body = malloc(n + 1);
    uint8_t *der = malloc(n);
    if (!body || !der) {
        free(body);
        free(der);
        return NULL;
    }
    for (const char *p = b; p < e; p++)
        if (*p != '\n' && *p != '\r')
            body[j++] = *p;
    if (mbedtls_base64_decode(der, n, len, (const unsigned char *)body, j) != 0) {
        free(der);
        der = NULL;
    }
    free(body);
    return der;
}

#endif
