/*
 * molt_host.h - the host library (libmolt_host): everything the molt CLI, moltd
 * and molt-agent share. Layers, each including only the ones before it:
 *   util.h (errors, files, parsing, keys, buffers)
 *   version.h, keyring.h, keys.h (signing keys and signatures)
 *   encrypt.h (image encryption, envelopes)
 *   image_writer.h (imgtool-compatible image layout)
 *   attest_check.h (PSA attestation tokens), ticket.h (deferral tickets)
 */
#ifndef MOLT_HOST_H
#define MOLT_HOST_H

#include "molt_host/util.h"
#include "molt_host/version.h"
#include "molt_host/keyring.h"
#include "molt_host/keys.h"
#include "molt_host/encrypt.h"
#include "molt_host/image_writer.h"
#include "molt_host/attest_check.h"
#include "molt_host/ticket.h"

#endif
