// SPDX-License-Identifier: Apache-2.0
// net/ports.h: the proxy.config.http.server_ports grammar (ATS 9): which ports to listen on.
//
// The value is a list of port descriptors separated by spaces or commas. A descriptor is a
// colon-separated list of options, one of which is the port number; as in ATS the options may
// come in any order ("8443:ssl" and "ssl:8443" are the same) and their names are
// case-insensitive. tlsedge implements:
//     PORT       1..65535, exactly one per descriptor
//     ssl        terminate TLS on this port
//     ipv4       listen on IPv4 (the default; address 0.0.0.0)
//     ipv6       listen on IPv6 (address ::)
//     tr-pass    transparent pass-through: bytes that are not the protocol the port expects
//                become a blind tunnel instead of an error (ATS honours it only together with
//                tr-in; tlsedge takes it alone; net/ and bridge/ act on it)
//     ip-in=ADDR listen on ADDR only: IPv4, or IPv6 in brackets ("ip-in=[::1]", since colons
//                separate options); it sets the family, and must agree with ipv4/ipv6 if given
// ATS options without meaning in tlsedge are accepted with a warning and ignored: proto=,
// blind, tr-in, tr-out, tr-full, pp, ip-out=, ip-resolve=, allow-plain, mptcp. Anything else
// (including ATS's fd=, quic, plugin, compressed) is an error, as is a bad port or address, two
// ports in one descriptor, or the same address and port twice. An empty option ("443::ssl") is
// skipped, as ATS does.
//
// Threads: pure functions of their arguments; any thread (in practice the main thread while
// building a configuration). Nothing is allocated.
#ifndef TLSEDGE_NET_PORTS_H
#define TLSEDGE_NET_PORTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct core_err;

// NET_PORT_FORMAT_MAX is a buffer size that always holds net_port_format()'s output.
#define NET_PORT_FORMAT_MAX 80

// struct net_port: one listening port, plain data owned by whoever holds it.
struct net_port {
    uint16_t port;                // host byte order, 1..65535
    bool ssl;                     // "ssl": terminate TLS
    bool tr_pass;                 // "tr-pass": unexpected bytes become a blind tunnel
    struct sockaddr_storage addr; // family + address + port (network order), ready for bind()
    socklen_t addrlen;            // sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6)
};

// net_ports_parse parses the server_ports value spec into out, which has room for max
// entries, in the order written, and stores the count in *n. file and line (may be NULL and
// 0) say where spec came from and are used in every message recorded in err (err may be NULL).
// Returns 0 on success (an empty spec gives *n == 0; the caller decides whether that is
// acceptable); -EINVAL when any descriptor was wrong, every problem recorded; -ENOSPC when
// spec is valid but lists more than max ports (also recorded). On failure *n is 0 and out may
// have been written. spec is borrowed; out belongs to the caller. Any thread.
int net_ports_parse(const char *spec, struct net_port *out, size_t max, size_t *n, const char *file,
                    int line, struct core_err *err);

// net_port_format writes p for logs into buf of len bytes, e.g. "127.0.0.1:8443 ssl" or
// "[::1]:8080 tr-pass", always NUL-terminated when len > 0. Returns the length written
// (without the NUL); -ENOSPC when it did not fit (buf then holds a truncated text); -EINVAL
// when p's family is neither AF_INET nor AF_INET6. Any thread.
int net_port_format(const struct net_port *p, char *buf, size_t len);

#endif
