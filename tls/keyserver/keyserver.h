// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/keyserver.h: what the files of tlsedge-keyserver share, the keyless signer
// program (protocol: tls/keyless_proto.h; usage: tls/keyserver/README.md).
//
// The program is its own module, prefix `ks_`, never linked into tlsedge; nothing outside
// tls/keyserver/ includes this header. Its threads:
// - the I/O thread (the main thread) owns the listeners, every connection, the timer heap and
//   the counters; it validates requests, hands SIGN jobs to the pool, sends the replies;
// - the signing threads (struct ks_pool) take jobs from the pool's queue, sign, and hand them
//   back through the pool's done queue and eventfd. They read the key table, which nobody
//   changes after loading, and the job they hold; nothing else.
// A job belongs to exactly one place at a time: the I/O thread, the pool's queue, one signing
// thread, the done queue, or the timer heap.
#ifndef TLSEDGE_KS_KEYSERVER_H
#define TLSEDGE_KS_KEYSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/base.h>

#include "tls/keyless_proto.h"

struct core_err;
struct ks_conn;

// ---- keys (keys.c) ----

// enum ks_key_type: the key types the signer serves.
enum ks_key_type {
    KS_KEY_RSA,
    KS_KEY_EC_P256,
    KS_KEY_EC_P384,
};

// struct ks_key: one private key. Owned by its struct ks_keys; immutable after loading, so any
// thread may read it while the table lives.
struct ks_key {
    uint8_t id[TLS_KEYLESS_KEY_ID_LEN]; // tls_keyless_key_id() of the key
    enum ks_key_type type;
    unsigned bits;  // RSA modulus or EC field size
    EVP_PKEY *pkey; // owned
    RSA *rsa;       // borrowed from pkey; KS_KEY_RSA only
    EC_KEY *ec;     // borrowed from pkey; KS_KEY_EC_* only
    char file[256]; // the file's name inside the directory, for logs
};

// struct ks_keys: the key table, sorted by id. Owned by main(); read-only after
// ks_keys_load() returns, shared by every thread without locks.
struct ks_keys {
    size_t n;
    struct ks_key *key; // n entries, owned
    size_t skipped;     // `.pem` files without a private key (certificates)
};

// ks_keys_load reads every `*.key` and `*.pem` file of the directory dir (borrowed) in name
// order. A `.key` file must hold a private key; a `.pem` file without one (a certificate) is
// skipped. Keys must be RSA (1024 to 8192 bits) or EC on P-256 or P-384; encrypted keys are
// refused. A key already loaded from another file is skipped with a warning. Returns a new table
// (the caller frees it with ks_keys_free()), or NULL with every reason recorded in err (never
// key material): the directory cannot be read, a file is unreadable, malformed or of another key
// type, or no key was found. Warnings also go to err. Main thread, before other threads start.
struct ks_keys *ks_keys_load(const char *dir, struct core_err *err);

// ks_keys_free frees keys and every key it holds; NULL does nothing.
void ks_keys_free(struct ks_keys *keys);

// ks_keys_find returns the key of keys (borrowed) whose id is id, or NULL. The result is
// borrowed from keys. Any thread.
const struct ks_key *ks_keys_find(const struct ks_keys *keys,
                                  const uint8_t id[TLS_KEYLESS_KEY_ID_LEN]);

// ks_key_type_name returns a static name for type: "rsa", "ec-p256", "ec-p384".
const char *ks_key_type_name(enum ks_key_type type);

// ---- signing (sign.c) ----

// ks_sign_check decides how the signer answers req (borrowed) with the keys of keys (borrowed).
// Returns TLS_KEYLESS_OK with *key set to the key to sign with (borrowed from keys) when req is
// a SIGN request that a signing thread must run; TLS_KEYLESS_OK with *key NULL for a PING
// (answered with an empty signature); otherwise the status to answer at once, *key NULL:
// BAD_REQUEST for an unknown op, a PING with a digest, or a digest whose length is not the
// sigalg's hash length; UNKNOWN_KEY when no key has req->key_id; UNSUPPORTED_ALG when the sigalg
// is not served or does not fit the key (an RSA scheme for an EC key, an ECDSA scheme of another
// curve, PSS with a modulus too short for the hash). Cheap and pure: the I/O thread calls it.
uint8_t ks_sign_check(const struct ks_keys *keys, const struct tls_keyless_request *req,
                      const struct ks_key **key);

// ks_sign_run signs req (borrowed; a SIGN request that ks_sign_check() accepted for key) with key
// (borrowed) into rep (caller storage): status OK with the signature (DER ECDSA-Sig-Value, or
// the RSA signature) or INTERNAL with no signature when BoringSSL fails (its error queue is then
// cleared). rep->id is set to req->id. Thread-safe: signing threads call it concurrently on the
// same key. Never logs.
void ks_sign_run(const struct ks_key *key, const struct tls_keyless_request *req,
                 struct tls_keyless_reply *rep);

// ---- jobs and the signing pool (pool.c) ----

// struct ks_job: one request on its way to its reply. Allocated and freed by the I/O thread;
// owned by whoever holds it (see the file comment).
struct ks_job {
    struct ks_job *next;      // link in the queue that holds the job
    struct ks_conn *conn;     // the connection to answer; only the I/O thread dereferences it
    const struct ks_key *key; // key to sign with (borrowed from the key table)
    uint64_t arrived_ns;      // CLOCK_MONOTONIC when the request was read
    uint64_t due_ns;          // when the reply may be sent (arrived_ns + the configured delay)
    struct tls_keyless_request req;
    struct tls_keyless_reply rep; // filled by ks_sign_run() or by the I/O thread
};

// struct ks_job_list: a FIFO of jobs linked through next. Caller storage; initialise to
// {NULL, &list.head} with ks_job_list_init().
struct ks_job_list {
    struct ks_job *head;
    struct ks_job **tail;
    size_t n;
};

// ks_job_list_init empties list (caller storage).
void ks_job_list_init(struct ks_job_list *list);

// ks_job_list_push appends job (the list takes it) to list.
void ks_job_list_push(struct ks_job_list *list, struct ks_job *job);

// ks_job_list_pop removes and returns the first job of list (the caller takes it), or NULL.
struct ks_job *ks_job_list_pop(struct ks_job_list *list);

// struct ks_pool: the signing threads and their two queues (pool.c); opaque outside pool.c.
struct ks_pool;

// ks_pool_new starts nthreads (1..64) signing threads that sign with ks_sign_run(). SIGTERM and
// friends must already be blocked in the calling thread, since the signing threads inherit its
// signal mask. Returns the pool (the caller frees it with ks_pool_free()) or NULL with errno set
// (ENOMEM, EINVAL, or what eventfd/pthread_create failed with). Main thread.
struct ks_pool *ks_pool_new(int nthreads);

// ks_pool_fd returns the pool's eventfd (owned by the pool): it becomes readable when done
// jobs wait in ks_pool_take_done(). Watch it with EPOLLIN (level-triggered).
int ks_pool_fd(const struct ks_pool *pool);

// ks_pool_submit moves every job of list (which the pool takes; list is left empty) to the end
// of the signing queue and wakes signing threads. I/O thread.
void ks_pool_submit(struct ks_pool *pool, struct ks_job_list *list);

// ks_pool_take_done clears the eventfd and moves every signed job to out (caller storage, which
// is initialised; the caller takes the jobs), in the order they were finished. I/O thread.
void ks_pool_take_done(struct ks_pool *pool, struct ks_job_list *out);

// ks_pool_free stops and joins the signing threads (a thread finishes the job it holds), then
// moves every job still queued or done to leftover (caller storage, initialised here; the
// caller takes the jobs) and frees pool. NULL does nothing (leftover is still initialised).
// Main thread.
void ks_pool_free(struct ks_pool *pool, struct ks_job_list *leftover);

// ---- the server: listeners, connections, timer heap (server.c, listen.c) ----

// KS_LISTEN_MAX is how many --listen addresses one process serves.
#define KS_LISTEN_MAX 8

// struct ks_options: the command line. Caller storage, filled by main().
struct ks_options {
    const char *keys_dir;
    const char *listen[KS_LISTEN_MAX]; // HOST:PORT, [V6]:PORT or unix:PATH
    int n_listen;
    int delay_ms;    // 0..600000
    int threads;     // 1..64
    int max_seconds; // 0 = run until a signal
    bool debug;      // per-request debug lines under the tag "keyserver"
};

// struct ks_listener: one listening socket. Caller storage, filled by ks_listener_open().
struct ks_listener {
    int fd;         // -1 when closed; non-blocking, close-on-exec
    bool is_unix;   // unix socket: path is unlinked on close while it is still ours
    char name[160]; // "127.0.0.1:8500", "[::1]:8500" or "unix:/path", with the bound port
    char path[108]; // the unix socket's path
    dev_t dev;      // the socket file bind() made at path (a later signer may replace it)
    ino_t ino;
};

// ks_listener_open parses spec (borrowed: "HOST:PORT", "[V6ADDR]:PORT" or "unix:PATH"; port 0
// picks a free port) and opens a listening socket for it into l. A stale unix socket at PATH is
// replaced; any other file there is an error. Returns 0, -EINVAL for a malformed spec (reason
// in err), or a negative errno from getaddrinfo/socket/bind/listen (reason in err). Main thread.
int ks_listener_open(struct ks_listener *l, const char *spec, struct core_err *err);

// ks_listener_close closes l's socket and unlinks its unix path when the file there is still
// the one l bound (a signer started later on the same path has replaced it: it stays); a closed
// l is left alone.
void ks_listener_close(struct ks_listener *l);

// struct ks_server: the I/O thread's state (server.c); opaque outside server.c.
struct ks_server;

// ks_server_new builds the server for opt (borrowed for the server's life) and keys (borrowed;
// must outlive the server): opens the listeners (their names go to stdout as `LISTEN <name>`
// lines, flushed), a signalfd for SIGTERM, SIGINT and SIGUSR1 (which the caller has blocked), and
// the signing pool. Returns the server (freed with ks_server_free()) or NULL with the reasons in
// err. Main thread.
struct ks_server *ks_server_new(const struct ks_options *opt, const struct ks_keys *keys,
                                struct core_err *err);

// ks_server_run serves until SIGTERM/SIGINT or opt->max_seconds, then logs the counters; SIGUSR1
// logs them while it runs. Returns 0 on such a stop, or a negative errno when the event loop
// itself fails (epoll_wait). Main thread.
int ks_server_run(struct ks_server *srv);

// ks_server_free stops the pool, closes every connection and listener (unlinking unix paths) and
// frees srv with every job it still held. NULL does nothing. Main thread.
void ks_server_free(struct ks_server *srv);

// ks_now_ns returns CLOCK_MONOTONIC in nanoseconds. Any thread.
uint64_t ks_now_ns(void);

#endif
