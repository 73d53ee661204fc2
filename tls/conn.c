// SPDX-License-Identifier: Apache-2.0
// tls/conn.c: server-side TLS connection: ClientHello peek, context choice, handshake state
// machine and record I/O over a read-ahead BIO (see tls/conn.h).
#include "tls/conn.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/worker.h"
#include "tls/certtable.h"
#include "tls/clienthello.h"
#include "tls/config.h"
#include "tls/hook.h"
#include "tls/internal.h"
#include "tls/keyop.h"
#include "tls/sni.h"
#include "tls/pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

// The ClientHello may span several records: room for a 16 KiB message plus record headers.
#define HELLO_BUF_MAX (TLS_CH_MAX + 2048)
// Read-ahead: a small-size-class buffer (cheap to allocate per burst of data); larger reads
// (record bodies of 4 KiB and more) go straight into BoringSSL's buffer.
#define READAHEAD_SIZE 4096
// The ClientHello buffer starts small too and grows to HELLO_BUF_MAX only for large hellos.
#define HELLO_BUF_FIRST 4096
// BoringSSL asks for record headers (5 bytes) and bodies separately; reads at least this large go
// straight into its buffer, smaller ones are served from the read-ahead buffer.
#define DIRECT_READ_MIN 4096

struct tls_conn {
    uint64_t id;
    int fd;
    enum tls_conn_state state;
    enum tls_step want;
    SSL *ssl;
    uint8_t *buf; // ClientHello, then read-ahead; NULL while empty
    size_t cap, off, len;
    bool trace;
    bool eof;
    bool drained; // the last read was short: nothing to read until the next input event
    // The peer ended its side (or the socket failed): the end of the stream may have come with
    // the input event already used, so a short read no longer implies "nothing left".
    bool hup;
    struct tls_keyop *op; // key operation in flight or back but not yet consumed
    // Accept mode (TLS_CONN_LENT): the pool thread works on a duplicate of the descriptor, so
    // a close by the worker meanwhile cannot hand the number to another connection under it.
    struct core_msg lend_msg;
    struct core_worker *home; // the owning worker, where the connection comes back
    int home_fd;              // fd while lent
    bool orphaned;            // freed while lent: free it when it comes back
    bool hup_while_lent;      // tls_conn_note_hangup while lent: applied on hand-back
    tls_resume_fn resume;
    void *resume_arg;
    struct timespec start;
    struct sockaddr_storage local, peer;
    struct tls_conn_hooks hooks; // plugin hook progress (tls/hook.h)
    char *sni;                   // the ClientHello's SNI, kept for plugins; NULL without hooks
    char *route;                 // tunnel or forward route (tls_conn_route), or NULL
    bool route_tls;              // route is a partial_blind_route (tls_conn_route_tls)
    bool passthrough;            // a tr-pass port: bytes that are not TLS become a blind tunnel
    bool tunnel_requested;       // a plugin called TSVConnTunnel (tls_conn_request_tunnel)
    bool h1_disabled;            // TSVConnProtocolDisable("http/1.1"): no ALPN answer
    bool wrote;                  // the handshake has written to the client
};

static BIO_METHOD *bio_method;

static const char *const state_names[] = {
    [TLS_CONN_START] = "START",
    [TLS_CONN_HOOK_WAIT] = "HOOK_WAIT",
    [TLS_CONN_HELLO] = "HELLO",
    [TLS_CONN_HANDSHAKE] = "HANDSHAKE",
    [TLS_CONN_KEY_WAIT] = "KEY_WAIT",
    [TLS_CONN_LENT] = "LENT",
    [TLS_CONN_ESTABLISHED] = "ESTABLISHED",
    [TLS_CONN_FAILED] = "FAILED",
    [TLS_CONN_CLOSED] = "CLOSED",
    [TLS_CONN_TUNNEL] = "TUNNEL",
};

// allowed[from] is the set of states reachable from `from`, as bits.
static const unsigned allowed[] = {
    [TLS_CONN_START] = 1u << TLS_CONN_HELLO | 1u << TLS_CONN_FAILED | 1u << TLS_CONN_CLOSED,
    [TLS_CONN_HOOK_WAIT] = 1u << TLS_CONN_HANDSHAKE | 1u << TLS_CONN_FAILED | 1u << TLS_CONN_CLOSED,
    [TLS_CONN_HELLO] = 1u << TLS_CONN_HANDSHAKE | 1u << TLS_CONN_FAILED | 1u << TLS_CONN_CLOSED |
                       1u << TLS_CONN_TUNNEL,
    [TLS_CONN_HANDSHAKE] = 1u << TLS_CONN_ESTABLISHED | 1u << TLS_CONN_FAILED |
                           1u << TLS_CONN_CLOSED | 1u << TLS_CONN_KEY_WAIT |
                           1u << TLS_CONN_HOOK_WAIT | 1u << TLS_CONN_TUNNEL |
                           1u << TLS_CONN_LENT,
    [TLS_CONN_KEY_WAIT] = 1u << TLS_CONN_HANDSHAKE | 1u << TLS_CONN_FAILED | 1u << TLS_CONN_CLOSED,
    [TLS_CONN_LENT] = 1u << TLS_CONN_HANDSHAKE,
    [TLS_CONN_ESTABLISHED] = 1u << TLS_CONN_FAILED | 1u << TLS_CONN_CLOSED,
    [TLS_CONN_FAILED] = 0,
    [TLS_CONN_CLOSED] = 1u << TLS_CONN_FAILED,
    [TLS_CONN_TUNNEL] = 0,
};

const char *tls_conn_state_name(enum tls_conn_state s)
{
    return s <= TLS_CONN_CLOSED ? state_names[s] : "?";
}

static void set_state(struct tls_conn *c, enum tls_conn_state to)
{
    CORE_ASSERT(allowed[c->state] & (1u << to));
    CORE_DEBUG("ssl", "[%llu] %s -> %s", (unsigned long long)c->id, state_names[c->state],
               state_names[to]);
    c->state = to;
}

enum tls_conn_state tls_conn_state_get(const struct tls_conn *c)
{
    return c->state;
}

// ---- read-ahead BIO over the connection buffer ----

static int bio_read(BIO *b, char *out, int outl)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (outl <= 0)
        return 0;
    if (c->off == c->len && c->drained && !c->eof) {
        BIO_set_retry_read(b);
        return -1;
    }
    if (c->off == c->len && (size_t)outl < DIRECT_READ_MIN && !c->eof) {
        if (!c->buf) {
            c->buf = malloc(READAHEAD_SIZE);
            if (!c->buf)
                return -1;
            c->cap = READAHEAD_SIZE;
        }
        ssize_t n = read(c->fd, c->buf, c->cap);
        if (n > 0) {
            c->off = 0;
            c->len = (size_t)n;
            c->drained = !c->hup && (size_t)n < c->cap;
        } else if (n == 0) {
            c->eof = true;
        } else if (errno == EAGAIN || errno == EINTR) {
            c->drained = errno == EAGAIN;
            BIO_set_retry_read(b);
            return -1;
        } else {
            return -1;
        }
    }
    if (c->off < c->len) {
        size_t n = c->len - c->off;
        if (n > (size_t)outl)
            n = (size_t)outl;
        memcpy(out, c->buf + c->off, n);
        c->off += n;
        return (int)n;
    }
    if (c->eof)
        return 0;
    ssize_t n = read(c->fd, out, (size_t)outl);
    if (n >= 0) {
        c->drained = !c->hup && n > 0 && n < outl;
        return (int)n;
    }
    if (errno == EAGAIN || errno == EINTR) {
        c->drained = errno == EAGAIN;
        BIO_set_retry_read(b);
    }
    return -1;
}

static int bio_write(BIO *b, const char *in, int inl)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(c->fd, in, (size_t)inl, MSG_NOSIGNAL);
    if (n > 0)
        c->wrote = true;
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EINTR)
        BIO_set_retry_write(b);
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long larg, void *parg)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void init_method(void)
{
    bio_method = BIO_meth_new(BIO_TYPE_SOCKET, "tlsedge-conn");
    if (!bio_method)
        return;
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

static BIO_METHOD *get_bio_method(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_method);
    return bio_method;
}

// ---- life cycle ----

struct tls_conn *tls_conn_new(int fd, uint64_t id, const struct sockaddr *local,
                              const struct sockaddr *peer)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->id = id;
    c->state = TLS_CONN_START;
    c->want = TLS_STEP_WANT_READ;
    size_t ll = local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    size_t pl = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    memcpy(&c->local, local, ll);
    memcpy(&c->peer, peer, pl);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    return c;
}

void tls_conn_set_resume(struct tls_conn *c, tls_resume_fn fn, void *arg)
{
    c->resume = fn;
    c->resume_arg = arg;
}

void tls_conn_set_op(struct tls_conn *c, struct tls_keyop *op)
{
    c->op = op;
}

struct tls_keyop *tls_conn_get_op(const struct tls_conn *c)
{
    return c->op;
}

void tls_conn_key_ready(struct tls_conn *c)
{
    if (c->state != TLS_CONN_KEY_WAIT)
        return;
    set_state(c, TLS_CONN_HANDSHAKE);
    if (c->resume)
        c->resume(c->resume_arg);
}

static void free_now(struct tls_conn *c)
{
    if (c->op)
        tls_keyop_orphan(c->op); // the signer may still be working on it
    tls_hook_close(c);           // VCONN_CLOSE, after everything else on the connection
    SSL_free(c->ssl);
    free(c->sni);
    free(c->route);
    free(c->buf);
    free(c);
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    if (c->state == TLS_CONN_LENT) {
        c->orphaned = true; // the pool thread still works on it: freed when it comes back
        return;
    }
    free_now(c);
}

// ---- failures ----

// A TLS alert record written before any SSL object exists (bad or unmatched ClientHello).
static void raw_alert(struct tls_conn *c, uint8_t desc)
{
    const uint8_t rec[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, desc};
    ssize_t n = send(c->fd, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
}

static void peer_text(const struct tls_conn *c, char *buf, size_t len)
{
    const void *a = c->peer.ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)&c->peer)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)&c->peer)->sin_addr;
    if (!inet_ntop(c->peer.ss_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

// Drains BoringSSL's error queue into one log line tagged with the connection, and counts the
// failure under ATS's user_agent_* names. Returns the first library reason code.
static int drain_errors(struct tls_conn *c, const char *what)
{
    char line[512];
    size_t used = 0;
    int first = 0;
    uint32_t e;
    line[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        if (!first)
            first = ERR_GET_REASON(e);
        char one[160];
        ERR_error_string_n(e, one, sizeof(one));
        int n = snprintf(line + used, sizeof(line) - used, "%s%s", used ? "; " : "", one);
        if (n > 0 && used + (size_t)n < sizeof(line))
            used += (size_t)n;
    }
    if (core_log_debug_on("ssl")) {
        char peer[64];
        peer_text(c, peer, sizeof(peer));
        core_log_debug("ssl", "[%llu] %s from %s: %s", (unsigned long long)c->id, what, peer,
                       line[0] ? line : "no library error");
    }
    return first;
}

static void count_failure(int reason, int ssl_error)
{
    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
        core_stat_inc(tls_stats.err_syscall);
        return;
    }
    core_stat_inc(tls_stats.err_ssl);
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
        core_stat_inc(tls_stats.ua_wrong_version);
        break;
    case SSL_R_DECRYPTION_FAILED:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
        core_stat_inc(tls_stats.ua_decrypt_failed);
        break;
    default:
        core_stat_inc(tls_stats.ua_other);
        break;
    }
}

// ---- wire trace (seed 002): handshake steps of selected connections, never key material ----

static const char *content_name(int ct)
{
    switch (ct) {
    case SSL3_RT_HANDSHAKE:
        return "handshake";
    case SSL3_RT_ALERT:
        return "alert";
    case SSL3_RT_CHANGE_CIPHER_SPEC:
        return "change_cipher_spec";
    case SSL3_RT_HEADER:
        return "record header";
    default:
        return "other";
    }
}

static void trace_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                      SSL *ssl, void *arg)
{
    const struct tls_conn *c = SSL_get_app_data(ssl);
    if (!c || content_type == SSL3_RT_HEADER)
        return;
    int hs_type = (content_type == SSL3_RT_HANDSHAKE && len > 0) ? ((const uint8_t *)buf)[0] : -1;
    core_log_debug("ssl", "[%llu] wire %s %s type %d (%zu bytes)", (unsigned long long)c->id,
                   write_p ? "->" : "<-", content_name(content_type), hs_type, len);
}

static bool addr_matches(const struct tls_conn *c, const char *want)
{
    char peer[64];
    peer_text(c, peer, sizeof(peer));
    return strcmp(peer, want) == 0;
}

static bool should_trace(const struct tls_conn *c, const struct tls_config *cfg,
                         const struct tls_clienthello *ch)
{
    if (!cfg->wire_trace || cfg->wire_trace_percentage <= 0)
        return false;
    if (cfg->wire_trace_addr && !addr_matches(c, cfg->wire_trace_addr))
        return false;
    if (cfg->wire_trace_server_name &&
        (!ch->has_sni || strcasecmp(ch->sni, cfg->wire_trace_server_name) != 0))
        return false;
    uint32_t roll;
    RAND_bytes((uint8_t *)&roll, sizeof(roll));
    return (int)(roll % 100) < cfg->wire_trace_percentage;
}

// ---- ClientHello and context choice ----

static enum tls_step fail(struct tls_conn *c)
{
    set_state(c, TLS_CONN_FAILED);
    return TLS_STEP_FAILED;
}

static const struct tls_chain *pick_chain(const struct tls_cert_entry *e,
                                          const struct tls_clienthello *ch, uint16_t maxv)
{
    // Prefer ECDSA (cheaper to sign), then RSA, then whatever the line holds first: a client
    // that accepts neither fails the handshake inside BoringSSL with a proper alert.
    for (int i = 0; i < e->n_chains; i++)
        if (e->chain[i].key_type == EVP_PKEY_EC && tls_clienthello_accepts_ecdsa(ch, maxv))
            return &e->chain[i];
    for (int i = 0; i < e->n_chains; i++)
        if (e->chain[i].key_type == EVP_PKEY_RSA && tls_clienthello_accepts_rsa(ch, maxv))
            return &e->chain[i];
    return &e->chain[0];
}

static unsigned local_port(const struct tls_conn *c)
{
    return ntohs(c->local.ss_family == AF_INET6
                     ? ((const struct sockaddr_in6 *)&c->local)->sin6_port
                     : ((const struct sockaddr_in *)&c->local)->sin_port);
}

// Routing without termination (DESIGN section 4): an sni.yaml tunnel_route for the name, or an
// ssl_multicert action=tunnel line for the accepting address, makes the connection a blind
// tunnel; a forward_route or partial_blind_route is remembered for after the handshake.
// TLS_STEP_DONE: terminate here.
static enum tls_step route_by_name(struct tls_conn *c, const struct tls_config *cfg,
                                   const struct tls_clienthello *ch)
{
    const char *sni = ch->has_sni ? ch->sni : NULL;
    const struct tls_sni_entry *se = tls_sni_lookup(cfg->sni, sni);
    const struct tls_cert_entry *ae =
        tls_certtable_lookup(cfg->certs, NULL, (const struct sockaddr *)&c->local);
    const char *route = se && se->tunnel_route ? se->tunnel_route
                        : c->tunnel_requested ? cfg->sni->default_route
                        : se && se->forward_route ? se->forward_route
                        : se && se->partial_blind_route ? se->partial_blind_route
                        : ae && ae->tunnel     ? cfg->sni->default_route
                                               : NULL;
    if (c->tunnel_requested && !route) {
        core_log_warn("[%llu] a plugin asked for a blind tunnel, but neither sni.yaml "
                      "tunnel_route nor proxy.config.tlsedge.tunnel.default_route says where to",
                      (unsigned long long)c->id);
        return fail(c);
    }
    if (!route)
        return TLS_STEP_DONE;
    if (!tls_sni_allows(se, (const struct sockaddr *)&c->peer)) {
        core_stat_inc(tls_stats.sni_denied);
        raw_alert(c, SSL_AD_ACCESS_DENIED);
        return fail(c);
    }
    char buf[512];
    if (tls_sni_route_expand(route == cfg->sni->default_route ? NULL : se, route, sni,
                             local_port(c), buf, sizeof(buf)) < 0 ||
        !(c->route = strdup(buf)))
        return fail(c);
    if (se && !se->tunnel_route && !c->tunnel_requested &&
        (se->forward_route || se->partial_blind_route)) {
        // Terminate, then forward (tls_conn_route after the handshake), over a new TLS session
        // for a partial blind route.
        c->route_tls = !se->forward_route;
        return TLS_STEP_DONE;
    }
    CORE_DEBUG("ssl", "[%llu] blind tunnel for SNI '%s' to %s", (unsigned long long)c->id,
               sni ? sni : "", c->route);
    c->off = 0; // every byte read so far goes to the route
    set_state(c, TLS_CONN_TUNNEL);
    return TLS_STEP_TUNNEL;
}

static enum tls_step start_ssl(struct tls_conn *c, const struct tls_config *cfg,
                               const struct tls_clienthello *ch)
{
    enum tls_step routed = route_by_name(c, cfg, ch);
    if (routed != TLS_STEP_DONE)
        return routed;
    const struct tls_cert_entry *e =
        tls_certtable_lookup(cfg->certs, ch->has_sni ? ch->sni : NULL,
                             (const struct sockaddr *)&c->local);
    if (!e || e->n_chains == 0) {
        // No certificate for this name and no default (RFC 6066 section 3).
        core_stat_inc(tls_stats.unrecognized_name);
        CORE_DEBUG("ssl", "[%llu] no certificate for SNI '%s'", (unsigned long long)c->id,
                   ch->has_sni ? ch->sni : "");
        raw_alert(c, SSL_AD_UNRECOGNIZED_NAME);
        return fail(c);
    }
    const struct tls_chain *chain = pick_chain(e, ch, cfg->max_version);
    c->ssl = SSL_new(chain->ctx);
    BIO *bio = c->ssl ? BIO_new(get_bio_method()) : NULL;
    if (!bio) {
        core_log_error("[%llu] out of memory creating the TLS session",
                       (unsigned long long)c->id);
        return fail(c);
    }
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_app_data(c->ssl, c);
    SSL_set_accept_state(c->ssl);
    int rc = tls_sni_apply(cfg->sni, tls_sni_lookup(cfg->sni, ch->has_sni ? ch->sni : NULL),
                           c->ssl, (const struct sockaddr *)&c->peer);
    if (rc < 0) {
        if (rc == -EACCES) {
            core_stat_inc(tls_stats.sni_denied);
            CORE_DEBUG("ssl", "[%llu] sni.yaml ip_allow refuses this client for '%s'",
                       (unsigned long long)c->id, ch->has_sni ? ch->sni : "");
        }
        raw_alert(c, rc == -EACCES ? SSL_AD_ACCESS_DENIED : SSL_AD_INTERNAL_ERROR);
        return fail(c);
    }
    SSL_set_shed_handshake_config(c->ssl, 1);
    tls_hook_ssl_init(c->ssl);
    if (tls_hook_wanted() && ch->has_sni)
        c->sni = strdup(ch->sni); // NULL when out of memory: plugins then see no SNI
    c->trace = should_trace(c, cfg, ch);
    if (c->trace) {
        SSL_set_msg_callback(c->ssl, trace_msg);
        core_log_debug("ssl", "[%llu] wire trace on: SNI '%s', chain line %d",
                       (unsigned long long)c->id, ch->has_sni ? ch->sni : "", e->line);
    }
    c->off = 0; // the BIO replays the buffered ClientHello (and anything after it)
    set_state(c, TLS_CONN_HANDSHAKE);
    return TLS_STEP_DONE;
}

static enum tls_step hello_outcome(struct tls_conn *c, enum tls_ch_result r)
{
    switch (r) {
    case TLS_CH_NOT_TLS:
        core_stat_inc(tls_stats.hello_not_tls);
        raw_alert(c, SSL_AD_PROTOCOL_VERSION);
        break;
    case TLS_CH_TOO_LARGE:
        core_stat_inc(tls_stats.hello_too_large);
        raw_alert(c, SSL_AD_DECODE_ERROR);
        break;
    default:
        core_stat_inc(tls_stats.hello_malformed);
        raw_alert(c, SSL_AD_DECODE_ERROR);
        break;
    }
    CORE_DEBUG("ssl", "[%llu] bad ClientHello: %s", (unsigned long long)c->id,
               tls_ch_result_name(r));
    return fail(c);
}

// A tr-pass port received bytes that are not a TLS ClientHello: relay them blind to
// proxy.config.tlsedge.tunnel.default_route, or close when there is none.
static enum tls_step pass_through(struct tls_conn *c, const struct tls_config *cfg)
{
    core_stat_inc(tls_stats.hello_not_tls);
    if (!cfg->sni->default_route || !(c->route = strdup(cfg->sni->default_route))) {
        CORE_DEBUG("ssl", "[%llu] tr-pass: not TLS and no default route: closed",
                   (unsigned long long)c->id);
        return fail(c);
    }
    CORE_DEBUG("ssl", "[%llu] tr-pass: not TLS, relayed to %s", (unsigned long long)c->id,
               c->route);
    c->off = 0;
    set_state(c, TLS_CONN_TUNNEL);
    return TLS_STEP_TUNNEL;
}

static enum tls_step read_hello(struct tls_conn *c, const struct tls_config *cfg)
{
    if (!c->buf) {
        c->buf = malloc(HELLO_BUF_FIRST);
        if (!c->buf)
            return fail(c);
        c->cap = HELLO_BUF_FIRST;
    }
    for (;;) {
        if (c->len == c->cap && c->cap < HELLO_BUF_MAX) {
            uint8_t *grown = realloc(c->buf, HELLO_BUF_MAX);
            if (!grown)
                return fail(c);
            c->buf = grown;
            c->cap = HELLO_BUF_MAX;
        }
        if (c->len == c->cap)
            return hello_outcome(c, TLS_CH_TOO_LARGE);
        if (c->drained)
            return TLS_STEP_WANT_READ; // the rest of the hello raises a new input event
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->drained = true;
            return TLS_STEP_WANT_READ;
        }
        if (n == 0 && c->len > 0) {
            // The client ended its side mid-ClientHello: it may still read, so it gets the
            // decode_error alert (RFC 8446 section 6.2) like any other undecodable hello.
            core_stat_inc(tls_stats.hello_truncated);
            CORE_DEBUG("ssl", "[%llu] ClientHello truncated after %zu bytes",
                       (unsigned long long)c->id, c->len);
            raw_alert(c, SSL_AD_DECODE_ERROR);
            return fail(c);
        }
        if (n < 0 && c->len > 0)
            core_stat_inc(tls_stats.err_syscall); // reset mid-ClientHello
        if (n <= 0)
            return fail(c);
        if (c->len == 0)
            core_stat_inc(tls_stats.attempts_in);
        c->drained = !c->hup && c->len + (size_t)n < c->cap;
        c->len += (size_t)n;
        struct tls_clienthello ch;
        enum tls_ch_result r = tls_clienthello_parse(c->buf, c->len, &ch);
        if (r == TLS_CH_NEED_MORE)
            continue;
        if (r == TLS_CH_NOT_TLS && c->passthrough)
            return pass_through(c, cfg);
        if (r != TLS_CH_DONE)
            return hello_outcome(c, r);
        return start_ssl(c, cfg, &ch);
    }
}

// ---- handshake ----

static void count_success(struct tls_conn *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (now.tv_sec - c->start.tv_sec) * 1000000 + (now.tv_nsec - c->start.tv_nsec) / 1000;
    core_stat_inc(tls_stats.success_in);
    core_stat_add(tls_stats.handshake_time, us);
    core_stat_inc(SSL_session_reused(c->ssl) ? tls_stats.resumed_in : tls_stats.full_in);
    core_stat_inc(SSL_version(c->ssl) == TLS1_3_VERSION ? tls_stats.tls13 : tls_stats.tls12);
}

// BoringSSL keeps a TLS 1.3 server's NewSessionTicket messages until its next write (so they can
// share a packet with the first response). A client that speaks first, or only handshakes, would
// never see them, and they would sit in memory on idle connections: a zero-length write flushes
// them now.
static void flush_tickets(struct tls_conn *c)
{
    if (SSL_version(c->ssl) != TLS1_3_VERSION)
        return;
    ERR_clear_error();
    int n = SSL_write(c->ssl, "", 0);
    if (n < 0) {
        int e = SSL_get_error(c->ssl, n);
        CORE_DEBUG("ssl", "[%llu] ticket flush: %s", (unsigned long long)c->id,
                   e == SSL_ERROR_WANT_WRITE ? "socket full, sent with the next write" : "error");
    }
    ERR_clear_error();
}

// ---- accept mode: the connection lent to a pool thread ----

// Runs on the owning worker when the pool thread is done with c.
static void lend_returned(struct core_msg *m)
{
    struct tls_conn *c = caa_container_of(m, struct tls_conn, lend_msg);
    close(c->fd);
    c->fd = c->home_fd;
    if (c->orphaned) {
        free_now(c);
        return;
    }
    set_state(c, TLS_CONN_HANDSHAKE);
    // Input that arrived while the pool held c raised its edge-triggered event on the worker,
    // which ignored it: read again instead of waiting for an edge that already passed.
    c->drained = false;
    c->hup = c->hup || c->hup_while_lent;
    if (c->resume)
        c->resume(c->resume_arg);
}

// Runs on a pool thread: the handshake goes on here, the key method's complete() signing
// synchronously, until it wants I/O or is done. The worker then calls SSL_do_handshake once
// more, which reports the outcome there (BoringSSL replays a failed handshake's error), so
// counters and logs stay on the worker.
static void lend_run(struct core_msg *m)
{
    struct tls_conn *c = caa_container_of(m, struct tls_conn, lend_msg);
    ERR_clear_error();
    SSL_do_handshake(c->ssl);
    ERR_clear_error();
    c->lend_msg.fn = lend_returned;
    core_worker_post(c->home, &c->lend_msg);
    tls_pool_ran(); // c belongs to its worker again: not touched after this
}

static enum tls_step lend(struct tls_conn *c)
{
    struct core_worker *w = core_worker_self();
    int d = w ? dup(c->fd) : -1;
    if (d < 0) {
        core_log_error("[%llu] cannot lend the handshake to the pool: %s",
                       (unsigned long long)c->id, strerror(errno));
        count_failure(0, SSL_ERROR_SSL);
        return fail(c);
    }
    c->home = w;
    c->home_fd = c->fd;
    c->fd = d;
    set_state(c, TLS_CONN_LENT);
    c->lend_msg.fn = lend_run;
    tls_pool_post(&c->lend_msg);
    return TLS_STEP_PENDING;
}

// A plugin's TSVConnTunnel from the CLIENT_HELLO, SERVERNAME or CERT hook: BoringSSL has read
// the ClientHello (still whole in c->buf) and written nothing, so the connection can still
// become a blind tunnel; the handshake stops here without a byte or an alert to the client.
static enum tls_step tunnel_now(struct tls_conn *c, const struct tls_config *cfg)
{
    struct tls_clienthello ch;
    if (c->wrote || tls_clienthello_parse(c->buf, c->len, &ch) != TLS_CH_DONE) {
        core_log_warn("[%llu] TSVConnTunnel too late: the handshake already answered the client",
                      (unsigned long long)c->id);
        return fail(c);
    }
    SSL_free(c->ssl); // nothing was sent: no alert, no close_notify
    c->ssl = NULL;
    enum tls_step s = route_by_name(c, cfg, &ch);
    return s == TLS_STEP_TUNNEL ? s : fail(c);
}

static enum tls_step do_handshake(struct tls_conn *c, const struct tls_config *cfg)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        set_state(c, TLS_CONN_ESTABLISHED);
        count_success(c);
        flush_tickets(c);
        if (c->trace || core_log_debug_on("ssl")) {
            char d[128];
            tls_conn_describe(c, d, sizeof(d));
            core_log_debug("ssl", "[%llu] handshake done: %s", (unsigned long long)c->id, d);
        }
        return TLS_STEP_DONE;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_PRIVATE_KEY_OPERATION && c->op) {
        if (tls_keyop_lends(c->op))
            return lend(c);
        set_state(c, TLS_CONN_KEY_WAIT);
        return TLS_STEP_PENDING;
    }
    if (c->tunnel_requested &&
        (e == SSL_ERROR_PENDING_CERTIFICATE || e == SSL_ERROR_WANT_X509_LOOKUP))
        return tunnel_now(c, cfg);
    if (e == SSL_ERROR_PENDING_CERTIFICATE || e == SSL_ERROR_WANT_X509_LOOKUP ||
        e == SSL_ERROR_WANT_CERTIFICATE_VERIFY) {
        set_state(c, TLS_CONN_HOOK_WAIT); // a CLIENT_HELLO, CERT or VERIFY_CLIENT hook waits
        return TLS_STEP_PENDING;
    }
    if (e == SSL_ERROR_WANT_READ)
        return c->want = TLS_STEP_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return c->want = TLS_STEP_WANT_WRITE;
    count_failure(drain_errors(c, "handshake failed"), e);
    return fail(c);
}

enum tls_step tls_conn_handshake(struct tls_conn *c, const struct tls_config *cfg)
{
    switch (c->state) {
    case TLS_CONN_START:
        switch (tls_hook_gate(c, TLS_HOOK_VCONN_START)) {
        case TLS_HOOK_WAIT:
            return TLS_STEP_PENDING; // tls_conn_hook_done resumes
        case TLS_HOOK_FAIL:
            return fail(c);
        case TLS_HOOK_GO:
            break;
        }
        set_state(c, TLS_CONN_HELLO);
        // fall through
    case TLS_CONN_HELLO: {
        enum tls_step s = read_hello(c, cfg);
        if (s != TLS_STEP_DONE)
            return s;
        return do_handshake(c, cfg);
    }
    case TLS_CONN_HANDSHAKE:
        return do_handshake(c, cfg);
    case TLS_CONN_KEY_WAIT:
    case TLS_CONN_HOOK_WAIT:
        return TLS_STEP_PENDING; // socket events wait until the key operation or hook is back
    case TLS_CONN_LENT:
        return TLS_STEP_PENDING; // the pool thread owns it; the hand-back re-reads the socket
    case TLS_CONN_ESTABLISHED:
        return TLS_STEP_DONE;
    case TLS_CONN_TUNNEL:
        return TLS_STEP_TUNNEL;
    case TLS_CONN_FAILED:
    case TLS_CONN_CLOSED:
        break;
    }
    return TLS_STEP_FAILED;
}

// ---- application data ----

static void release_readahead(struct tls_conn *c)
{
    // Idle connections keep no buffer: memory is held only while bytes wait.
    if (c->buf && c->off == c->len) {
        free(c->buf);
        c->buf = NULL;
        c->cap = c->off = c->len = 0;
    }
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
    if (c->state != TLS_CONN_ESTABLISHED)
        return c->state == TLS_CONN_CLOSED ? 0 : -EPROTO;
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0) {
        release_readahead(c);
        return n;
    }
    int e = SSL_get_error(c->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        release_readahead(c);
        c->want = TLS_STEP_WANT_READ;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->want = TLS_STEP_WANT_WRITE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        set_state(c, TLS_CONN_CLOSED);
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && n == 0) {
            set_state(c, TLS_CONN_CLOSED); // TCP FIN without close_notify
            return 0;
        }
        break;
    default:
        break;
    }
    int reason = drain_errors(c, "read failed");
    if (reason == SSL_R_NO_RENEGOTIATION)
        core_stat_inc(tls_stats.renegotiations);
    set_state(c, TLS_CONN_FAILED);
    return -EPROTO;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
    if (c->state != TLS_CONN_ESTABLISHED)
        return -EPIPE;
    ERR_clear_error();
    int n = SSL_write(c->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) {
        c->want = TLS_STEP_WANT_WRITE;
        return -EAGAIN;
    }
    if (e == SSL_ERROR_WANT_READ) {
        c->want = TLS_STEP_WANT_READ;
        return -EAGAIN;
    }
    drain_errors(c, "write failed");
    set_state(c, TLS_CONN_FAILED);
    return -EPIPE;
}

enum tls_step tls_conn_want(const struct tls_conn *c)
{
    return c->want;
}

bool tls_conn_pending(const struct tls_conn *c)
{
    return c->off < c->len || (c->ssl && SSL_pending(c->ssl) > 0);
}

void tls_conn_note_readable(struct tls_conn *c)
{
    if (c->state == TLS_CONN_LENT)
        return; // the pool thread owns the flag; the hand-back clears it
    c->drained = false;
}

void tls_conn_note_hangup(struct tls_conn *c)
{
    if (c->state == TLS_CONN_LENT) {
        c->hup_while_lent = true; // the pool thread owns hup and drained; applied on hand-back
        return;
    }
    c->hup = true;
    c->drained = false;
}

void tls_conn_shutdown(struct tls_conn *c)
{
    if (c->state == TLS_CONN_LENT) {
        // The pool thread holds a duplicate descriptor, which keeps the socket open after the
        // worker's close: its epoll registration too (an epoll entry goes away only with the
        // last descriptor of the file), which would report events for a freed connection.
        // Remove it explicitly, and end the socket for both so the client sees the close now.
        core_worker_del(c->home, c->home_fd);
        shutdown(c->home_fd, SHUT_RDWR);
        return;
    }
    if (c->ssl && c->state == TLS_CONN_ESTABLISHED && !c->eof) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
}

int tls_conn_alpn_set(struct tls_conn *c, const char *proto, bool enable)
{
    if (!proto || strcmp(proto, "http/1.1") != 0)
        return -ENOTSUP; // the only application protocol tlsedge speaks
    c->h1_disabled = !enable;
    return 0;
}

bool tls_conn_alpn_allowed(const struct tls_conn *c, const char *proto)
{
    return !(c->h1_disabled && strcmp(proto, "http/1.1") == 0);
}

void tls_conn_request_tunnel(struct tls_conn *c)
{
    c->tunnel_requested = true;
}

bool tls_conn_tunnel_requested(const struct tls_conn *c)
{
    return c->tunnel_requested;
}

void tls_conn_set_passthrough(struct tls_conn *c, bool on)
{
    c->passthrough = on;
}

const char *tls_conn_route(const struct tls_conn *c)
{
    return c->route;
}

bool tls_conn_route_tls(const struct tls_conn *c)
{
    return c->route && c->route_tls;
}

size_t tls_conn_take_buffered(struct tls_conn *c, uint8_t **out)
{
    size_t n = c->buf && c->len > c->off ? c->len - c->off : 0;
    *out = NULL;
    if (n == 0)
        return 0;
    if (c->off > 0)
        memmove(c->buf, c->buf + c->off, n);
    *out = c->buf;
    c->buf = NULL;
    c->off = c->len = c->cap = 0;
    return n;
}

const char *tls_conn_sni(const struct tls_conn *c)
{
    return c->ssl ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

void tls_conn_describe(const struct tls_conn *c, char *buf, size_t len)
{
    if (!c->ssl) {
        snprintf(buf, len, "no session");
        return;
    }
    const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
    const char *group = SSL_get_curve_name(SSL_get_curve_id(c->ssl));
    snprintf(buf, len, "%s %s %s %s", SSL_get_version(c->ssl),
             ciph ? SSL_CIPHER_standard_name(ciph) : "-", group ? group : "-",
             SSL_session_reused(c->ssl) ? "resumed" : "full");
}

// ---- hook points (tls/hook.h) ----

struct tls_conn_hooks *tls_conn_hooks(struct tls_conn *c)
{
    return &c->hooks;
}

void tls_conn_hook_resume(struct tls_conn *c)
{
    // From START, tls_conn_handshake moves to HELLO once the VCONN_START gate says GO.
    if (c->state == TLS_CONN_HOOK_WAIT)
        set_state(c, TLS_CONN_HANDSHAKE);
    else if (c->state != TLS_CONN_START)
        return;
    if (c->resume)
        c->resume(c->resume_arg);
}

SSL *tls_conn_ssl(const struct tls_conn *c)
{
    return c->ssl;
}

int tls_conn_fd(const struct tls_conn *c)
{
    return c->fd;
}

uint64_t tls_conn_id(const struct tls_conn *c)
{
    return c->id;
}

const struct sockaddr *tls_conn_local(const struct tls_conn *c)
{
    return (const struct sockaddr *)&c->local;
}

const struct sockaddr *tls_conn_peer(const struct tls_conn *c)
{
    return (const struct sockaddr *)&c->peer;
}

const char *tls_conn_hello_sni(const struct tls_conn *c)
{
    return c->sni;
}
