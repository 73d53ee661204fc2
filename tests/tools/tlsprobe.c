// SPDX-License-Identifier: Apache-2.0
// tests/tools/tlsprobe.c: sends one hand-made, invalid TLS ClientHello to 127.0.0.1:PORT and
// prints what the server answered, for the invalid-TLS integration tests.
//
//   tlsprobe PORT KIND
//
// KIND is one of:
//   sni300     a well-formed ClientHello whose server_name is one 300-byte label (a DNS name
//              is at most 255 bytes, RFC 1035 section 2.3.4)
//   bigext     a ClientHello carrying a 64 KiB extension, sent over four full records plus one
//              (a ClientHello body is at most 16 KiB for tlsedge)
//   truncated  the first 60 bytes of a record that announces a 200-byte ClientHello, then the
//              client's write side is shut (FIN), in the same TCP segment
//   halfclose  a real TLS handshake (no verification), then "GET / HTTP/1.1" for Host a.test
//              and the FIN in one TCP segment: the server must answer, see the end of the
//              stream that came with the request, and close; prints the milliseconds from the
//              request to the server's close instead of the reply
//
// Output, one line: the reply in hex (everything until the server closes, at most 64 bytes
// and 5 s), e.g. "15030300020232" for a fatal decode_error alert, or "" when the server closed
// without a byte. Exit status 0 when the server closed the connection, 1 when it kept it open
// for 5 s, 2 on a usage or socket error.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#define HELLO_MAX (70 * 1024)

struct out {
    uint8_t b[HELLO_MAX];
    size_t len;
};

static void put8(struct out *o, unsigned v)
{
    o->b[o->len++] = (uint8_t)v;
}

static void put16(struct out *o, unsigned v)
{
    put8(o, v >> 8);
    put8(o, v & 0xff);
}

static void put24(struct out *o, unsigned v)
{
    put8(o, v >> 16);
    put16(o, v & 0xffff);
}

static void patch16(struct out *o, size_t at, size_t v)
{
    o->b[at] = (uint8_t)(v >> 8);
    o->b[at + 1] = (uint8_t)v;
}

static void patch24(struct out *o, size_t at, size_t v)
{
    o->b[at] = (uint8_t)(v >> 16);
    patch16(o, at + 1, v & 0xffff);
}

// Builds a ClientHello handshake message (type, 24-bit length, body) into o: TLS 1.2 legacy
// version, TLS 1.3 in supported_versions, one x25519 key share of zeros, the given SNI, and an
// optional padding-like extension of extra_len bytes (type 0xfe00, private use).
static void build_hello(struct out *o, const char *sni, size_t sni_len, size_t extra_len)
{
    put8(o, 1); // client_hello
    size_t len_at = o->len;
    put24(o, 0);
    put16(o, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(o, (unsigned)i); // random
    put8(o, 0);               // legacy_session_id
    put16(o, 6);
    put16(o, 0x1301);
    put16(o, 0x1302);
    put16(o, 0xc02b);
    put8(o, 1);
    put8(o, 0); // compression: null
    size_t ext_at = o->len;
    put16(o, 0);
    put16(o, 0x0000); // server_name
    put16(o, sni_len + 5);
    put16(o, sni_len + 3);
    put8(o, 0); // host_name
    put16(o, sni_len);
    memcpy(o->b + o->len, sni, sni_len);
    o->len += sni_len;
    put16(o, 0x002b); // supported_versions: TLS 1.3
    put16(o, 3);
    put8(o, 2);
    put16(o, 0x0304);
    put16(o, 0x000a); // supported_groups: x25519
    put16(o, 4);
    put16(o, 2);
    put16(o, 0x001d);
    put16(o, 0x000d); // signature_algorithms: ecdsa_secp256r1_sha256
    put16(o, 4);
    put16(o, 2);
    put16(o, 0x0403);
    put16(o, 0x0033); // key_share: x25519, 32 zero bytes
    put16(o, 38);
    put16(o, 36);
    put16(o, 0x001d);
    put16(o, 32);
    memset(o->b + o->len, 0, 32);
    o->len += 32;
    if (extra_len > 0) {
        put16(o, 0xfe00);
        put16(o, extra_len);
        memset(o->b + o->len, 'x', extra_len);
        o->len += extra_len;
    }
    patch16(o, ext_at, o->len - ext_at - 2);
    patch24(o, len_at, o->len - len_at - 3);
}

// Wraps the handshake message msg into handshake records of at most 16384 bytes each.
static void frame_records(const struct out *msg, struct out *rec)
{
    for (size_t off = 0; off < msg->len;) {
        size_t n = msg->len - off > 16384 ? 16384 : msg->len - off;
        put8(rec, 0x16);
        put16(rec, 0x0301);
        put16(rec, n);
        memcpy(rec->b + rec->len, msg->b + off, n);
        rec->len += n;
        off += n;
    }
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1; // the server may close before reading everything: not an error here
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

// Prints the reply in hex until the server closes (return 0) or 5 s pass (return 1).
static int print_reply(int fd)
{
    uint8_t buf[4096];
    size_t shown = 0;
    int rc = 1;
    for (int waited = 0; waited < 5000;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r == 0) {
            waited += 100;
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            rc = 0; // closed (FIN or RST)
            break;
        }
        for (ssize_t i = 0; i < n && shown < 64; i++, shown++)
            printf("%02x", buf[i]);
    }
    printf("\n");
    return rc;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// halfclose: see the top of the file. Returns the exit status.
static int half_close(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, "a.test") ||
        SSL_connect(ssl) != 1) {
        fprintf(stderr, "tlsprobe: handshake failed\n");
        return 2;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
    long t0 = now_ms();
    if (SSL_write(ssl, req, (int)sizeof(req) - 1) <= 0)
        return 2;
    shutdown(fd, SHUT_WR);
    char buf[4096];
    int rc = 1;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break; // still open after 10 s
        if (SSL_read(ssl, buf, sizeof(buf)) <= 0) {
            rc = 0;
            break;
        }
    }
    printf("%ld\n", now_ms() - t0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    static struct out msg, rec;
    if (argc != 3) {
        fprintf(stderr, "usage: tlsprobe PORT sni300|bigext|truncated|halfclose\n");
        return 2;
    }
    char label[300];
    memset(label, 'a', sizeof(label));
    if (strcmp(argv[2], "sni300") == 0) {
        build_hello(&msg, label, sizeof(label), 0);
        frame_records(&msg, &rec);
    } else if (strcmp(argv[2], "bigext") == 0) {
        build_hello(&msg, "a.test", 6, 65535 - 200);
        frame_records(&msg, &rec);
    } else if (strcmp(argv[2], "truncated") == 0 || strcmp(argv[2], "halfclose") == 0) {
        build_hello(&msg, "a.test", 6, 200 - 130);
        frame_records(&msg, &rec);
        rec.len = 60;
    } else {
        fprintf(stderr, "tlsprobe: unknown kind '%s'\n", argv[2]);
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("tlsprobe: connect");
        return 2;
    }
    if (strcmp(argv[2], "halfclose") == 0)
        return half_close(fd);
    // truncated: corked, so that the bytes and the FIN leave in one segment and reach the server
    // as one readiness edge (a server that stops at a short read must still see the end).
    bool truncated = strcmp(argv[2], "truncated") == 0;
    int one = 1;
    if (truncated)
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
    send_all(fd, rec.b, rec.len);
    if (truncated)
        shutdown(fd, SHUT_WR);
    int rc = print_reply(fd);
    close(fd);
    return rc;
}
