// SPDX-License-Identifier: Apache-2.0
// tests/tools/keyless_client.c: a test client for tlsedge-keyserver: sends SIGN or PING requests
// of the keyless protocol over one connection with many in flight, checks every reply (status,
// id, and the signature against the public key), and prints counts, rate and latencies.
//
// It implements the wire format on its own, from the description in tls/keyless_proto.h, and
// includes no project header (tests/tools/README.md), so it checks the signer from the outside.
//
// Usage:
//   keyless_client --connect HOST:PORT|[V6]:PORT|unix:PATH --key FILE [--sigalg 0xNNNN]
//                  [-n N] [--inflight N] [--expect STATUS] [--unknown-key] [--digest-len N]
//                  [--verify N] [--ping] [--malformed] [--timeout-ms N]
// FILE is a PEM certificate, public key or private key; the key id is the SHA-256 of the
// certificate's SubjectPublicKeyInfo bytes (of the marshalled public key otherwise). --sigalg
// defaults to 0x0403 / 0x0503 / 0x0804 for a P-256 / P-384 / RSA key. Every reply must have
// status --expect (ok, unknown_key, bad_request, unsupported_alg, internal; default ok); OK
// signatures of the first --verify replies (default all) are verified. --malformed sends one
// PING, then a frame with version 2, and expects the signer to close the connection.
// Output: one line `sent=... replies=... verified=... elapsed_ms=... rate=... p50_ms=... p99_ms=...
// max_ms=...`. Exit status 0 when every check passed, 1 otherwise, 2 for a bad command line.
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define FRAME_MAX 4096
#define REQ_HEAD 42
#define REP_HEAD 8
#define WBUF_SIZE (256 * 1024)
#define RBUF_SIZE (64 * 1024)

static const char *const status_names[] = {"ok", "unknown_key", "bad_request", "unsupported_alg",
                                           "internal"};

struct options {
    const char *connect;
    const char *key;
    int sigalg; // -1: from the key type
    long n;
    long inflight;
    int expect;
    bool unknown_key;
    int digest_len; // -1: the sigalg's hash length
    long verify;    // -1: all
    bool ping;
    bool malformed;
    int timeout_ms;
};

// struct pending: one request sent, waiting for its reply.
struct pending {
    uint64_t sent_ns;
    uint8_t digest[64];
    uint8_t digest_len;
    bool answered;
};

struct client {
    struct options o;
    int fd;
    EVP_PKEY *pkey;
    uint8_t key_id[32];
    const EVP_MD *md;
    struct pending *req; // o.n entries
    double *lat_ms;      // latencies of the replies, in arrival order
    long sent, replies, verified, failures;
    long by_status[6]; // index 5: any other status
    uint8_t wbuf[WBUF_SIZE];
    size_t w_off, w_len;
    uint8_t rbuf[RBUF_SIZE];
    size_t r_len;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// ---- the key ----

// load_key reads FILE as a certificate, a public key or a private key, and computes its id.
static int load_key(struct client *cl)
{
    BIO *bio = BIO_new_file(cl->o.key, "r");
    if (!bio)
        return -1;
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    uint8_t *der = NULL;
    int der_len = -1;
    if (x) {
        cl->pkey = X509_get_pubkey(x);
        der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der); // the bytes inside the cert
        X509_free(x);
    } else {
        BIO_reset(bio);
        cl->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!cl->pkey) {
            BIO_reset(bio);
            cl->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        }
        if (cl->pkey)
            der_len = i2d_PUBKEY(cl->pkey, &der);
    }
    BIO_free(bio);
    if (!cl->pkey || der_len <= 0) {
        OPENSSL_free(der);
        return -1;
    }
    SHA256(der, (size_t)der_len, cl->key_id);
    OPENSSL_free(der);
    if (cl->o.unknown_key)
        cl->key_id[0] ^= 0xff;
    return 0;
}

static int default_sigalg(const EVP_PKEY *pkey)
{
    if (EVP_PKEY_id(pkey) == EVP_PKEY_RSA)
        return 0x0804;
    const EC_GROUP *g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(pkey));
    return EC_GROUP_get_curve_name(g) == NID_secp384r1 ? 0x0503 : 0x0403;
}

static const EVP_MD *sigalg_md(int sigalg)
{
    switch (sigalg >> 8) {
    case 0x05:
        return EVP_sha384();
    case 0x06:
        return EVP_sha512();
    }
    switch (sigalg) {
    case 0x0805:
        return EVP_sha384();
    case 0x0806:
        return EVP_sha512();
    }
    return EVP_sha256();
}

// verify checks sig over req's digest with the public key under o.sigalg.
static bool verify(struct client *cl, const struct pending *p, const uint8_t *sig, size_t len)
{
    int sa = cl->o.sigalg;
    if (sa == 0x0403 || sa == 0x0503) {
        const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(cl->pkey);
        return ec && ECDSA_verify(0, p->digest, p->digest_len, sig, len, ec) == 1;
    }
    RSA *rsa = EVP_PKEY_get0_RSA(cl->pkey);
    if (!rsa)
        return false;
    if (sa == 0x0804 || sa == 0x0805 || sa == 0x0806)
        return RSA_verify_pss_mgf1(rsa, p->digest, p->digest_len, cl->md, cl->md, -1, sig, len) ==
               1;
    return RSA_verify(EVP_MD_type(cl->md), p->digest, p->digest_len, sig, len, rsa) == 1;
}

// ---- requests and replies ----

// queue_request appends request number i to the write buffer.
static void queue_request(struct client *cl, long i)
{
    struct pending *p = &cl->req[i];
    uint8_t *f = cl->wbuf + cl->w_len;
    char msg[64];
    int mlen = snprintf(msg, sizeof(msg), "keyless-client message %ld", i);
    unsigned dlen = 0;
    if (!cl->o.ping) {
        uint8_t full[EVP_MAX_MD_SIZE];
        unsigned flen = 0;
        EVP_Digest(msg, (size_t)mlen, full, &flen, cl->md, NULL);
        dlen = cl->o.digest_len >= 0 ? (unsigned)cl->o.digest_len : flen;
        memset(p->digest, 0x11, sizeof(p->digest));
        memcpy(p->digest, full, dlen < flen ? dlen : flen);
    }
    p->digest_len = (uint8_t)dlen;
    put32(f, REQ_HEAD + dlen);
    f[4] = 1;
    f[5] = cl->o.ping ? 2 : 1;
    put16(f + 6, cl->o.ping ? 0 : (unsigned)cl->o.sigalg);
    put32(f + 8, (uint32_t)i);
    if (cl->o.ping)
        memset(f + 12, 0, 32);
    else
        memcpy(f + 12, cl->key_id, 32);
    put16(f + 44, dlen);
    memcpy(f + 46, p->digest, dlen);
    cl->w_len += 4 + REQ_HEAD + dlen;
    p->sent_ns = now_ns();
    cl->sent++;
}

// on_reply checks one reply body (len bytes, length prefix removed). Returns 0, or -1 for a
// protocol violation by the signer.
static int on_reply(struct client *cl, const uint8_t *b, size_t len)
{
    unsigned sig_len = (unsigned)b[6] << 8 | b[7];
    uint32_t id = get32(b + 2);
    if (len < REP_HEAD || b[0] != 1 || len != REP_HEAD + sig_len || id >= (uint32_t)cl->o.n ||
        cl->req[id].answered || id >= (uint32_t)cl->sent) {
        fprintf(stderr, "keyless_client: bad reply (len %zu, id %u)\n", len, id);
        return -1;
    }
    struct pending *p = &cl->req[id];
    p->answered = true;
    cl->lat_ms[cl->replies++] = (double)(now_ns() - p->sent_ns) / 1e6;
    cl->by_status[b[1] < 5 ? b[1] : 5]++;
    if (b[1] != cl->o.expect) {
        if (cl->failures++ < 5)
            fprintf(stderr, "keyless_client: id %u: status %u, expected %d\n", id, b[1],
                    cl->o.expect);
        return 0;
    }
    if (b[1] != 0 || cl->o.ping) {
        if (sig_len != 0 && cl->failures++ < 5)
            fprintf(stderr, "keyless_client: id %u: unexpected signature\n", id);
        return 0;
    }
    if (cl->o.verify >= 0 && cl->verified >= cl->o.verify)
        return 0;
    if (verify(cl, p, b + REP_HEAD, sig_len))
        cl->verified++;
    else if (cl->failures++ < 5)
        fprintf(stderr, "keyless_client: id %u: signature does not verify\n", id);
    return 0;
}

// parse_replies handles every whole frame in the read buffer. Returns 0 or -1.
static int parse_replies(struct client *cl)
{
    size_t off = 0;
    while (cl->r_len - off >= 4) {
        uint32_t len = get32(cl->rbuf + off);
        if (len > FRAME_MAX || len < REP_HEAD) {
            fprintf(stderr, "keyless_client: bad frame length %u\n", len);
            return -1;
        }
        if (cl->r_len - off < 4 + len)
            break;
        if (on_reply(cl, cl->rbuf + off + 4, len) < 0)
            return -1;
        off += 4 + len;
    }
    memmove(cl->rbuf, cl->rbuf + off, cl->r_len - off);
    cl->r_len -= off;
    return 0;
}

// ---- the connection ----

static int connect_to(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", spec + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    bool br = spec[0] == '[';
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec) - (br ? 2 : 0), spec + (br ? 1 : 0));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

// pump does one poll round: writes what it can, reads what is there. Returns 0, or -1 on an
// error, EOF or a timeout.
static int pump(struct client *cl)
{
    struct pollfd p = {.fd = cl->fd, .events = POLLIN};
    if (cl->w_off < cl->w_len)
        p.events |= POLLOUT;
    int rc = poll(&p, 1, cl->o.timeout_ms);
    if (rc <= 0) {
        fprintf(stderr, "keyless_client: %s\n", rc == 0 ? "timed out" : strerror(errno));
        return rc < 0 && errno == EINTR ? 0 : -1;
    }
    if (p.revents & POLLOUT) {
        ssize_t n =
            send(cl->fd, cl->wbuf + cl->w_off, cl->w_len - cl->w_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            return -1;
        cl->w_off += n > 0 ? (size_t)n : 0;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(cl->fd, cl->rbuf + cl->r_len, sizeof(cl->rbuf) - cl->r_len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            fprintf(stderr, "keyless_client: connection closed by the signer\n");
            return -1;
        }
        cl->r_len += n > 0 ? (size_t)n : 0;
        return parse_replies(cl);
    }
    return 0;
}

// run_requests keeps o.inflight requests in flight until o.n are answered.
static int run_requests(struct client *cl)
{
    while (cl->replies < cl->o.n) {
        if (cl->w_off == cl->w_len)
            cl->w_off = cl->w_len = 0;
        while (cl->sent < cl->o.n && cl->sent - cl->replies < cl->o.inflight &&
               WBUF_SIZE - cl->w_len >= 4 + REQ_HEAD + 64)
            queue_request(cl, cl->sent);
        if (pump(cl) < 0)
            return -1;
    }
    return 0;
}

// run_malformed sends a PING, waits for its reply, sends a version-2 frame and expects EOF.
static int run_malformed(struct client *cl)
{
    cl->o.ping = true;
    cl->o.n = 1;
    if (run_requests(cl) < 0)
        return -1;
    uint8_t bad[4 + REQ_HEAD] = {0, 0, 0, REQ_HEAD, 2, 2};
    if (send(cl->fd, bad, sizeof(bad), MSG_NOSIGNAL) != (ssize_t)sizeof(bad))
        return -1;
    struct pollfd p = {.fd = cl->fd, .events = POLLIN};
    uint8_t b[64];
    if (poll(&p, 1, cl->o.timeout_ms) != 1 || recv(cl->fd, b, sizeof(b), 0) > 0) {
        fprintf(stderr, "keyless_client: the signer did not close after a malformed frame\n");
        return -1;
    }
    printf("malformed frame: connection closed by the signer\n");
    return 0;
}

// ---- output and command line ----

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(struct client *cl, double elapsed_ms)
{
    qsort(cl->lat_ms, (size_t)cl->replies, sizeof(double), cmp_double);
    double p50 = 0, p99 = 0, max = 0;
    if (cl->replies > 0) {
        p50 = cl->lat_ms[cl->replies / 2];
        p99 = cl->lat_ms[(cl->replies * 99) / 100];
        max = cl->lat_ms[cl->replies - 1];
    }
    printf("sent=%ld replies=%ld ok=%ld unknown_key=%ld bad_request=%ld unsupported_alg=%ld "
           "internal=%ld verified=%ld failures=%ld sigalg=0x%04x elapsed_ms=%.1f rate=%.0f/s "
           "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
           cl->sent, cl->replies, cl->by_status[0], cl->by_status[1], cl->by_status[2],
           cl->by_status[3], cl->by_status[4], cl->verified, cl->failures, cl->o.sigalg, elapsed_ms,
           elapsed_ms > 0 ? cl->replies / (elapsed_ms / 1000) : 0, p50, p99, max);
}

static int status_by_name(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option lo[] = {
        {"connect", 1, NULL, 'c'},    {"key", 1, NULL, 'k'},        {"sigalg", 1, NULL, 's'},
        {"inflight", 1, NULL, 'i'},   {"expect", 1, NULL, 'e'},     {"unknown-key", 0, NULL, 'u'},
        {"digest-len", 1, NULL, 'd'}, {"verify", 1, NULL, 'v'},     {"ping", 0, NULL, 'p'},
        {"malformed", 0, NULL, 'm'},  {"timeout-ms", 1, NULL, 't'}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->connect = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 's':
            o->sigalg = (int)strtol(optarg, NULL, 0);
            break;
        case 'n':
            o->n = strtol(optarg, NULL, 10);
            break;
        case 'i':
            o->inflight = strtol(optarg, NULL, 10);
            break;
        case 'e':
            o->expect = status_by_name(optarg);
            break;
        case 'u':
            o->unknown_key = true;
            break;
        case 'd':
            o->digest_len = (int)strtol(optarg, NULL, 10);
            break;
        case 'v':
            o->verify = strtol(optarg, NULL, 10);
            break;
        case 'p':
            o->ping = true;
            break;
        case 'm':
            o->malformed = true;
            break;
        case 't':
            o->timeout_ms = (int)strtol(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    if (!o->connect || (!o->key && !o->ping && !o->malformed) || o->n < 1 || o->n > 10000000 ||
        o->inflight < 1 || o->expect < 0 || o->digest_len > 64 || o->timeout_ms < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static struct client cl = {.o = {.sigalg = -1,
                                     .n = 1,
                                     .inflight = 1,
                                     .digest_len = -1,
                                     .verify = -1,
                                     .timeout_ms = 5000},
                               .fd = -1};
    if (parse_args(argc, argv, &cl.o) < 0) {
        fprintf(stderr, "usage: see the comment at the top of tests/tools/keyless_client.c\n");
        return 2;
    }
    if (cl.o.key && load_key(&cl) < 0) {
        fprintf(stderr, "keyless_client: cannot read a key from %s\n", cl.o.key);
        return 1;
    }
    if (cl.o.sigalg < 0)
        cl.o.sigalg = cl.pkey ? default_sigalg(cl.pkey) : 0;
    cl.md = sigalg_md(cl.o.sigalg);
    cl.req = calloc((size_t)cl.o.n, sizeof(*cl.req));
    cl.lat_ms = calloc((size_t)cl.o.n, sizeof(double));
    cl.fd = connect_to(cl.o.connect);
    if (!cl.req || !cl.lat_ms || cl.fd < 0) {
        fprintf(stderr, "keyless_client: cannot connect to %s\n", cl.o.connect);
        return 1;
    }
    uint64_t t0 = now_ns();
    int rc = cl.o.malformed ? run_malformed(&cl) : run_requests(&cl);
    if (!cl.o.malformed)
        report(&cl, (double)(now_ns() - t0) / 1e6);
    close(cl.fd);
    EVP_PKEY_free(cl.pkey);
    free(cl.req);
    free(cl.lat_ms);
    return rc == 0 && cl.failures == 0 && cl.replies == cl.o.n ? 0 : 1;
}
