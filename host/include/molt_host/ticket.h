/*
 * molt_host/ticket.h - the deployer's side of deferral tickets (R-AVAIL): sign a ticket
 * in the format of molt/awdt.h with the deployer's ticket key (ECDSA P-256),
 * and the device identity a ticket names. Used by `molt ticket` and moltd.
 */
#ifndef MOLT_HOST_TICKET_H
#define MOLT_HOST_TICKET_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "molt/awdt.h"

/* out = the 124-byte ticket: "MDT1", id, nonce, secs, boots (little-endian),
 * ECDSA P-256 r || s over SHA-256 of bytes 0..59. false (with *why) if key is
 * not a P-256 private key or signing fails. */
bool ticket_make(EVP_PKEY *key, const uint8_t id[MOLT_AWDT_ID_LEN], const uint8_t nonce[MOLT_AWDT_NONCE_LEN],
                 uint32_t secs, uint32_t boots, uint8_t out[MOLT_AWDT_TICKET_LEN], const char **why);

/* The identity a device's tickets name: SHA-256 of its IAK public point (65
 * bytes, 0x04 || X || Y). */
bool ticket_device_id(const uint8_t iak_pub[65], uint8_t id[MOLT_AWDT_ID_LEN]);

#endif
