/*
 * molt/awdt.h - deferral tickets for the authenticated watchdog (R-AVAIL).
 *
 * The boot code arms a deadline the application can neither cancel nor
 * extend. Only a deferral ticket signed by the deployer extends it. This
 * header holds the part that decides whether a ticket is good: the ticket
 * format and its check against the state the device keeps (the outstanding
 * nonce, the current deadline). The persistent state, the boot-time arming
 * and recovery mode build on it (docs/awdt.md says what exists and what is
 * still to come).
 *
 * Time model: "device time" is the port's monotonic tick source in seconds.
 * A ticket never names an absolute time (a device without a real-time clock
 * could not check one): it grants an extension, in seconds and in boots,
 * counted from the moment the device issued the nonce the ticket answers.
 *
 * Ticket, MOLT_AWDT_TICKET_LEN bytes, integers little-endian:
 *   0   4  magic "MDT1"
 *   4  32  device identity (what the device reported with its nonce)
 *  36  16  nonce the device issued (molt_awdt_nonce)
 *  52   4  extension in seconds of device time (>= 1)
 *  56   4  extension in boots (>= 1)
 *  60  64  ECDSA P-256 signature r || s over SHA-256 of bytes 0..59,
 *          by one of the ticket keys (a keyring of their own, separate
 *          from the image signing keys; SPKI DER as for images)
 *
 * A ticket is single use (its nonce is consumed when it is accepted), bound
 * to its device and to the nonce, bounded in how far it extends, and must be
 * presented while its nonce is fresh (nonce_ttl seconds after issue).
 */
#ifndef MOLT_AWDT_H
#define MOLT_AWDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "molt/error.h"
#include "molt/image.h"
#include "molt/port.h"
#include "molt/verify.h"

#define MOLT_AWDT_ID_LEN 32u
#define MOLT_AWDT_NONCE_LEN 16u
#define MOLT_AWDT_TICKET_LEN 124u
#define MOLT_AWDT_SIGNED_LEN 60u

/* The device's policy for tickets. */
typedef struct molt_awdt_policy {
    const molt_keyring_t *keys;                 /* the deployer's ticket keys (P-256) */
    uint8_t device_id[MOLT_AWDT_ID_LEN];        /* this device's identity */
    uint32_t max_seconds;                       /* longest extension a ticket may grant */
    uint32_t max_boots;                         /* most boots a ticket may grant */
    uint32_t nonce_ttl;                         /* seconds a nonce stays good for a ticket */
} molt_awdt_policy_t;

/* The watchdog state the device keeps (in storage only the boot code and the
 * update service write; the application never holds it). */
typedef struct molt_awdt_state {
    uint32_t deadline;                          /* device time at which recovery is due */
    uint32_t boot_limit;                        /* boot count at which recovery is due */
    bool nonce_out;                             /* a nonce is outstanding */
    uint8_t nonce[MOLT_AWDT_NONCE_LEN];
    uint32_t nonce_time;                        /* device time it was issued */
    uint32_t nonce_boot;                        /* boot count it was issued at */
    /* Recovery, latched by the boot code when it first finds the deadline or
     * the boot limit reached; cleared only by an accepted ticket or by leaving
     * recovery through an approved image (molt_awdt_boot). */
    bool recovery;
    /* The highest version that ran confirmed in recovery without approval
     * (first: what the entry boot ran): an approved image must be above it. */
    molt_version_t entry;
    /* A trial above entry was activated by a latched recovery boot: the
     * updater's install (confirming it approves it; a revert clears this). */
    bool pending;
} molt_awdt_state_t;

/* Issue a fresh nonce from the port's random source: replaces any outstanding
 * one, so at most one ticket can ever answer. */
molt_err_t molt_awdt_nonce(molt_awdt_state_t *st, molt_err_t (*random)(void *ctx, void *buf, size_t len),
                           void *ctx, uint32_t now, uint32_t boots);

/* Check a ticket against the policy and the state, at device time now.
 * MOLT_OK: *st has the new deadline and boot limit and the nonce is consumed.
 * Refusals, with *st untouched:
 *   MOLT_E_AWDT_FORMAT   wrong length or magic, zero extension
 *   MOLT_E_AWDT_SIG      no ticket key signed it (forged or altered)
 *   MOLT_E_AWDT_DEVICE   issued for another device
 *   MOLT_E_AWDT_NONCE    answers no outstanding nonce (replayed, or never issued)
 *   MOLT_E_AWDT_EXPIRED  its nonce is older than nonce_ttl
 *   MOLT_E_AWDT_TOO_LONG extends further than max_seconds / max_boots
 * The signature is checked before anything the ticket says is believed. */
molt_err_t molt_awdt_ticket_check(const molt_awdt_policy_t *pol, molt_awdt_state_t *st, const uint8_t *ticket,
                                  size_t len, uint32_t now);

/* Whether recovery is due: the deadline or the boot limit has been reached. */
bool molt_awdt_expired(const molt_awdt_state_t *st, uint32_t now, uint32_t boots);

/* --- The persistent state (an area only the boot code and the update service
 * write; the application has no access, R-ASSETS) ---
 * The area is two halves, each whole sectors. A half holds a header (deadline,
 * boot limit, the boot count at the header, sequence number, CRC-32) and then
 * single-unit boot marks. The state in force is the valid header with the
 * higher sequence number; the boot count is its base plus the marks written
 * after it (a partly programmed mark counts: a cut never rewinds the count).
 * A new header goes to the other half only, so a cut leaves the state in
 * force; the deadline and the boot limit in a new header are never lower than
 * the old ones, so no sequence of cuts rewinds them. */

/* Read the state in force. MOLT_E_STATE when the area holds none (not
 * provisioned); MOLT_E_LAYOUT when it cannot hold two halves. */
molt_err_t molt_awdt_load(const molt_area_t *a, molt_awdt_state_t *st, uint32_t *boots);

/* Provision: the first state, deadline and boot_limit as given, 0 boots. */
molt_err_t molt_awdt_provision(const molt_area_t *a, uint32_t deadline, uint32_t boot_limit);

/* Count one boot (the boot code, at every reset, before the application runs).
 * *boots receives the new count. */
molt_err_t molt_awdt_count_boot(const molt_area_t *a, uint32_t *boots);

/* Store the deadline, boot limit and recovery latch of st (after an accepted
 * ticket: molt_awdt_ticket_check clears the latch). The deadline and the boot
 * limit stored are never lower than those in force. This
 * trusts its caller: the update service must never offer it across the
 * isolation boundary; only molt_awdt_accept (a checked ticket) may be. */
molt_err_t molt_awdt_store(const molt_area_t *a, const molt_awdt_state_t *st);

/* Check a ticket (molt_awdt_ticket_check) and make what it grants persistent.
 * *st changes only when both succeed: after a failed store the nonce is still
 * outstanding and the same ticket can be presented again. */
molt_err_t molt_awdt_accept(const molt_area_t *a, const molt_awdt_policy_t *pol, molt_awdt_state_t *st,
                            const uint8_t *ticket, size_t len, uint32_t now);


/* How the image a boot step judges runs (molt_awdt_cfg_t.boot's how). */
#define MOLT_AWDT_RUN_CONFIRMED 0x1u /* confirmed, not a trial */
#define MOLT_AWDT_RUN_ACTIVATED 0x2u /* this boot activated it (a new image, for a trial or for good) */

/* --- At boot (molt_boot_cfg_t.awdt) ---
 * The boot code counts the boot and decides, before the application runs,
 * whether this boot is a recovery boot. Time is the port's.
 *
 * Recovery is latched: the first recovery boot records the version of the
 * image it runs (the entry version) in the state. The device leaves recovery
 * only (1) through an accepted ticket, or (2) through an approved image: a
 * boot that runs a CONFIRMED image whose version is above the entry version.
 * Such an image can only have been activated after entry (anything staged
 * before was activated by the entry boot itself, or is the entry image), by
 * the updater path that alone runs in recovery, and it passed the boot code's
 * signature and counter checks. Leaving grants exit_seconds / exit_boots from
 * this boot (a port that sets 0 leaves through tickets only). */
typedef struct molt_awdt_cfg {
    const molt_area_t *area;                   /* the watchdog state (not reachable by the application) */
    uint32_t (*now)(void *ctx);                /* device time, seconds, monotonic; NULL: boots only */
    void (*arm)(void *ctx, uint32_t seconds);  /* hardware watchdog the application cannot stop,
                                                  for the seconds left; 0 on a recovery boot:
                                                  only the updater runs, and the port arms what
                                                  its recovery path needs (the sim: nothing);
                                                  NULL: none */
    void *ctx;
    /* The boot step; a port sets molt_awdt_boot, so that a boot stage without
     * a watchdog does not link this module. run is the image that will run and
     * how a mask of MOLT_AWDT_RUN_* (it runs confirmed; this boot activated it). */
    molt_err_t (*boot)(const struct molt_awdt_cfg *c, const molt_image_t *run, unsigned how, bool *recovery,
                       uint32_t *boots);
    uint32_t exit_seconds;                     /* granted on leaving recovery through an approved */
    uint32_t exit_boots;                       /* image; 0: leave through tickets only */
} molt_awdt_cfg_t;

/* Count this boot; *recovery when the deadline or the boot limit is reached
 * (latching recovery with the entry version on the first such boot, leaving it
 * for an approved image, see above), or when the state cannot be read or
 * counted (the error is returned: a device that cannot prove its deadline goes
 * to the updater, never to the application). Arms the port's watchdog with the
 * seconds left (0 on a recovery boot). */
molt_err_t molt_awdt_boot(const molt_awdt_cfg_t *c, const molt_image_t *run, unsigned how, bool *recovery,
                          uint32_t *boots);

#endif
