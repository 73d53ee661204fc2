// SPDX-License-Identifier: Apache-2.0
// tls/tickets.h: session-ticket keys: ATS's key file, the process-wide rotating key block, and
// the one ticket key callback every server SSL_CTX uses.
//
// A key block is an immutable, reference-counted list of keys; each key is ATS's 48-byte entry
// name[16] | hmac_secret[16] | aes_key[16] (AES-128-CBC + HMAC-SHA256). The first key encrypts
// new tickets; every key decrypts; a TLS 1.2 ticket decrypted with any key but the first is
// renewed (BoringSSL issues a new one under the first key; TLS 1.3 clients get fresh tickets on
// every resumption anyway).
//
// Where a context's keys come from (tls_tickets_attach): a block loaded from a file
// (proxy.config.ssl.server.ticket_key.filename, or a line's ticket_key_name), held by the
// SSL_CTX; or, without a file, the process block: random keys made at start-up, shared by every
// context of every configuration generation (so a reload never invalidates tickets, and there is
// never a key per certificate: ATS issue #8734), rotated by the main thread every
// proxy.config.tlsedge.ticket_key.rotation_interval seconds. A rotation puts a new key first and
// keeps the two previous ones for decryption, so a ticket stays decryptable for two intervals
// after its key stopped encrypting. The process block is published with RCU: the callback reads
// it inside the handshake (workers and pool threads are online RCU readers there).
//
// No function here ever puts key bytes (names included) in a message.
#ifndef TLSEDGE_TLS_TICKETS_H
#define TLSEDGE_TLS_TICKETS_H

#include <openssl/base.h>

#include <stddef.h>
#include <stdint.h>

struct core_err;

#define TLS_TICKET_KEY_LEN 48 // one entry of ATS's key file
#define TLS_TICKET_KEYS_MAX 64
#define TLS_TICKET_ROTATION_KEEP 3 // the process block: the current key and two previous

// struct tls_ticket_key: one key. The name is sent in the clear inside every ticket.
struct tls_ticket_key {
    uint8_t name[16];
    uint8_t hmac_secret[16];
    uint8_t aes_key[16];
};

struct tls_ticket_keys;

// tls_ticket_keys_parse makes a block from len raw bytes in ATS's format: N x 48-byte entries,
// a trailing remainder under 48 bytes ignored (with a warning in err), at most
// TLS_TICKET_KEYS_MAX keys (more: the rest ignored, with a warning). Returns a block with one
// reference that the caller owns, or NULL: fewer than 48 bytes, or out of memory (the reason in
// err against file, which names the source in messages; never key bytes). data is borrowed.
// Any thread.
struct tls_ticket_keys *tls_ticket_keys_parse(const uint8_t *data, size_t len, const char *file,
                                              struct core_err *err);

// tls_ticket_keys_load reads the file at path (at most 64 KiB) and parses it as above. Errors
// (unreadable, too short) name path and the reason. Returns a new block or NULL. Main thread.
struct tls_ticket_keys *tls_ticket_keys_load(const char *path, struct core_err *err);

// tls_ticket_keys_random returns a new block of n (1..TLS_TICKET_KEYS_MAX) random keys, or NULL
// when out of memory or n is out of range. Any thread.
struct tls_ticket_keys *tls_ticket_keys_random(size_t n);

// tls_ticket_keys_count returns the number of keys in k (0 for NULL).
size_t tls_ticket_keys_count(const struct tls_ticket_keys *k);

// tls_ticket_keys_get0 returns key i of k (lent, valid while k is), or NULL when out of range.
const struct tls_ticket_key *tls_ticket_keys_get0(const struct tls_ticket_keys *k, size_t i);

// tls_ticket_keys_ref adds a reference to k and returns it. Any thread.
struct tls_ticket_keys *tls_ticket_keys_ref(struct tls_ticket_keys *k);

// tls_ticket_keys_unref drops a reference; the last one wipes the keys and frees k. NULL is a
// no-op. Any thread.
void tls_ticket_keys_unref(struct tls_ticket_keys *k);

// tls_tickets_attach makes ctx issue and accept tickets through tlsedge's key callback, with the
// keys of block (the SSL_CTX takes a reference; it is dropped when ctx is freed), or with the
// process block when block is NULL. Returns 0, or -ENOMEM. Main thread, before ctx is shared.
int tls_tickets_attach(SSL_CTX *ctx, struct tls_ticket_keys *block);

// tls_tickets_start makes the first process block (TLS_TICKET_ROTATION_KEEP random keys, so the
// first rotations drop only keys that never encrypted) and publishes it. Returns 0 or -ENOMEM.
// Idempotent. Main thread, a registered RCU thread, before handshakes run.
int tls_tickets_start(void);

// tls_tickets_set_interval sets the rotation interval of the process block in seconds (0: never
// rotate), counted from the last rotation (or start). Main thread.
void tls_tickets_set_interval(uint64_t seconds);

// tls_tickets_due_ms returns how many milliseconds from now the next rotation is due (0: now),
// or -1 when rotation is off. Main thread.
int64_t tls_tickets_due_ms(void);

// tls_tickets_rotate puts a new random key first in the process block, keeping the previous
// TLS_TICKET_ROTATION_KEEP - 1 keys after it, publishes the result with RCU and frees the old
// block after a grace period. Counts proxy.process.ssl.total_ticket_keys_renewed. Returns 0 or
// -ENOMEM (the current block then stays). Main thread, a registered RCU thread.
int tls_tickets_rotate(void);

// tls_tickets_set_process_keys replaces the process block with block (takes the caller's
// reference on success), e.g. keys a plugin hands over; rotation goes on from it, keeping at
// most TLS_TICKET_ROTATION_KEEP keys. Returns 0, or -EINVAL for NULL or an empty block. Main
// thread, a registered RCU thread.
int tls_tickets_set_process_keys(struct tls_ticket_keys *block);

// tls_tickets_offer_process_keys hands block (its reference, on success) to the main thread to
// become the process block, as tls_tickets_set_process_keys does, from any thread (a plugin's
// TSSslTicketKeyUpdate): it replaces a block offered earlier and not yet applied, and wakes the
// main thread through tls_tickets_wake_fd(). Keys set this way are managed by their owner:
// automatic rotation stops until the next tls_tickets_set_interval with a new interval.
// Returns 0, -EINVAL for NULL or an empty block, or -errno when the wake-up cannot be made.
int tls_tickets_offer_process_keys(struct tls_ticket_keys *block);

// tls_tickets_wake_fd returns a descriptor (an eventfd) the main thread polls for readability;
// then it calls tls_tickets_apply_offered(). Made by tls_tickets_start; -1 before.
int tls_tickets_wake_fd(void);

// tls_tickets_apply_offered publishes a block offered by tls_tickets_offer_process_keys, if
// any. Returns 1 when one was applied, 0 when none was pending. Main thread, a registered RCU
// thread.
int tls_tickets_apply_offered(void);

// tls_tickets_process_keys_get1 returns a new reference to the current process block (NULL
// before tls_tickets_start). Any registered RCU thread, online.
struct tls_ticket_keys *tls_tickets_process_keys_get1(void);

// tls_tickets_stop unpublishes and frees the process block after readers are gone. Main thread,
// after the workers stopped.
void tls_tickets_stop(void);

// tls_tickets_stats_register registers the ticket counters. Main thread, before workers start.
void tls_tickets_stats_register(void);

#endif
