/*
 * mhd_shim.h - play HTTP requests through moltd's libmicrohttpd callbacks
 * in-process (mhd_shim.c). Call http_start() once first: it hands the
 * callbacks to the shim's MHD_start_daemon().
 */
#ifndef MOLT_FUZZ_MHD_SHIM_H
#define MOLT_FUZZ_MHD_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define SHIM_MAX_HEADERS 16

typedef struct shim_req {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', or NULL */
    const char *hname[SHIM_MAX_HEADERS], *hvalue[SHIM_MAX_HEADERS];
    unsigned nheaders;
    const char *body;
    size_t body_len;
} shim_req_t;

typedef struct shim_resp {
    unsigned queued; /* responses queued: exactly 1 is right */
    unsigned status;
    int result;      /* the handler's last MHD_Result */
    char type[128], range[128], location[512];
    char *body;      /* buffer responses (malloc'd, NUL-terminated) */
    int from_fd;     /* a file response: [off, off + len) of a file_size-byte file */
    uint64_t off, file_size;
    size_t len;
} shim_resp_t;

void shim_request(const shim_req_t *req, shim_resp_t *resp);

#endif
