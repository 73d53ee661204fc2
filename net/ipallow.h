// SPDX-License-Identifier: Apache-2.0
// net/ipallow.h: ip_allow.yaml, the client address and method access rules, in ATS 9 format.
//
// A rule set is built on the main thread and is then immutable: it becomes part of the
// RCU-published snapshot, and any thread may call net_ipallow_check() on it concurrently while
// the snapshot is live. Checks never allocate, lock or log.
//
// Format: a YAML mapping whose only key `ip_allow` holds one rule (a mapping) or a sequence of
// rules. Each rule has these keys (any other key is an error):
//  - `apply` (required): `in` (client connections) or `out` (origin connections). tlsedge only
//    evaluates `in`; `out` rules are checked and kept, with a warning that they have no effect.
//  - `ip_addrs` (required): one address range or a sequence of them. A range is one IPv4 or IPv6
//    address, a CIDR block (`10.0.0.0/8`, `::1/128`; host bits are ignored as in ATS) or two
//    addresses of one family joined by '-' (`1.2.3.4-1.2.3.20`, first <= last). IPv4 addresses
//    are full dotted quads, except that `0` is accepted in `0/0`, which ATS's own default file
//    uses; ATS also takes inet_aton's short forms ("10" meaning 0.0.0.10), which tlsedge refuses
//    as too easy to misread.
//  - `action` (required): `allow` or `deny`; ATS 10's `set_allow` and `set_deny` are accepted as
//    the same.
//  - `methods` (optional): one method name or a sequence of them; `ALL` means every method.
//    Absent means ALL. Names are HTTP tokens and compare case-insensitively, as in ATS.
// Keys and the values of apply and action are compared case-insensitively. libyaml reads YAML
// 1.1, where an unquoted IPv6 address inside a flow collection (`[...]`, `{...}`) is a syntax
// error: quote it there ('::1'), or use block style as ATS's default file does.
//
// Semantics (ATS's): the first `in` rule in file order with a range containing the client address
// decides. An allow rule allows its methods and denies all others; a deny rule denies its
// methods and allows all others. When no rule matches, the client is denied. An IPv4-mapped IPv6
// client (::ffff:a.b.c.d) matches IPv4 ranges as a.b.c.d, and IPv6 ranges as itself.
#ifndef TLSEDGE_NET_IPALLOW_H
#define TLSEDGE_NET_IPALLOW_H

#include <stdbool.h>
#include <stddef.h>

struct core_err;
struct sockaddr;

// struct net_ipallow: an immutable rule set. Owned by whoever built it (in practice the
// snapshot), freed with net_ipallow_free().
struct net_ipallow;

// net_ipallow_load reads the ip_allow.yaml file at path and builds its rule set (see
// net_ipallow_parse(), which it calls with path as the name for errors). A file that cannot be
// read is an error about path with line 0; the caller decides whether an absent file means
// net_ipallow_new_loopback_only(). Returns the rule set, owned by the caller, or NULL after
// recording every problem in err (err may be NULL). Main thread (it reads a file).
struct net_ipallow *net_ipallow_load(const char *path, struct core_err *err);

// net_ipallow_parse builds a rule set from the len bytes of YAML at text (need not be
// NUL-terminated), naming problems "name_for_errors:LINE" in err (err may be NULL). YAML syntax
// errors carry libyaml's line; an unknown key, a missing required key, a bad range, action, apply
// or method carry the line of the offending node, and every rule is checked so that all such
// errors are reported in one pass. A missing `ip_allow` key is an error; an empty rule list is
// only a warning (every client is then denied). Returns the rule set, owned by the caller, or
// NULL when there was at least one error or memory ran out ("out of memory" is then recorded).
// Any thread; in practice the main thread.
struct net_ipallow *net_ipallow_parse(const char *text, size_t len, const char *name_for_errors,
                                      struct core_err *err);

// net_ipallow_from_list builds a rule set that allows every method to clients in the ranges of
// list, a comma-separated string of ranges in the syntax above (sni.yaml's `ip_allow`), and
// denies everyone else. A bad or empty entry is an error naming file and line. Returns the rule
// set, owned by the caller, or NULL after recording the problem in err (err may be NULL). Any
// thread; in practice the main thread.
struct net_ipallow *net_ipallow_from_list(const char *list, const char *file, int line,
                                          struct core_err *err);

// net_ipallow_new_loopback_only builds the rule set used when ip_allow.yaml is absent: clients in
// 127.0.0.0/8 and ::1 may use every method; everyone else is denied. Returns it, owned by the
// caller, or NULL when memory ran out.
struct net_ipallow *net_ipallow_new_loopback_only(void);

// net_ipallow_free frees a and everything it owns. NULL does nothing. Call it only once no reader
// can still use a (after an RCU grace period when a was published).
void net_ipallow_free(struct net_ipallow *a);

// net_ipallow_count returns how many rules a holds, `in` and `out` alike. Any thread.
size_t net_ipallow_count(const struct net_ipallow *a);

// net_ipallow_check tells whether the client at client (an AF_INET or AF_INET6 address,
// borrowed) may use method, the request's method token (e.g. "GET"; compared case-insensitively).
// With method NULL it answers the accept-time question "may this client connect at all": true
// when the deciding rule allows at least one method (an allow rule with a non-empty method list,
// or a deny rule that does not deny ALL), so ATS's default file still lets every client in and
// refuses only its listed methods later. Returns false when no `in` rule matches, when a or
// client is NULL, or when client is of another family. Any thread; never allocates or locks.
bool net_ipallow_check(const struct net_ipallow *a, const struct sockaddr *client,
                       const char *method);

#endif
