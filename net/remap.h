// SPDX-License-Identifier: Apache-2.0
// net/remap.h: remap.config, the rules that map a client request (scheme, host, port, path) to an
// origin URL, in the subset of ATS 9 syntax that tlsedge implements.
//
// A rule set is built on the main thread (net_remap_load() or net_remap_parse()) and is then
// immutable: it becomes part of the RCU-published snapshot, and any thread may call the lookup
// functions on it concurrently while the snapshot is live. Lookups never allocate, lock or log.
// The rule set owns every string it hands out; they live until net_remap_free().
//
// Syntax (one rule per line; '#' starts a comment at the start of a line or of a word; blank
// lines are ignored; no line continuation):
//
//     map FROM TO [@plugin=... @pparam=...]
//
// FROM and TO are `scheme://host[:port][/path-prefix]` with scheme http or https
// (case-insensitive); host is a name or an IP literal (IPv6 in brackets), stored lower-case and
// without brackets; FROM's host also loses one trailing dot. A URL without a path has the path
// prefix "/". Query strings, fragments and user information are not allowed in either URL. A FROM
// without a host (ATS's match-all `map / ...`) is not supported.
//  - `@plugin=`/`@pparam=` options are ignored with one warning per line (no remap plugins yet).
//  - Other `@` options (`@action`, `@src_ip`, `@method`, ...) are errors, not warnings: they are
//    ACL filters, and silently dropping a deny filter would open access. Use ip_allow.yaml.
//  - `reverse_map` lines are ignored with a warning: tlsedge does not rewrite Location yet.
//  - `map_with_recv_port`, `map_with_referer`, `redirect`, `redirect_temporary`, every `regex_*`
//    directive, every `.`-directive (`.include`, `.definefilter`, ...) and the schemes tunnel, ws,
//    wss, file are errors that name the line ("not supported"); any other first word is an
//    "unknown directive" error.
#ifndef TLSEDGE_NET_REMAP_H
#define TLSEDGE_NET_REMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;

// struct net_remap: an immutable rule set. Owned by whoever built it (in practice the snapshot),
// freed with net_remap_free().
struct net_remap;

// struct net_remap_target: where a matching request goes. Owned by its rule set; valid while the
// rule set lives.
//  - tls: the origin is reached over TLS (TO scheme https).
//  - host: TO's host as written (lower-case; an IPv6 literal without brackets). A name or an IP
//    literal alike is stored as text: resolution happens elsewhere.
//  - port: TO's port, or 80 (http) / 443 (https) when TO has none.
//  - path_prefix: TO's path prefix, always starting with '/'.
//  - from_prefix_len: length of FROM's path prefix (the part of the request path it replaces).
//  - line: the rule's line in remap.config, for logs.
struct net_remap_target {
    bool tls;
    const char *host;
    uint16_t port;
    const char *path_prefix;
    size_t from_prefix_len;
    int line;
};

// net_remap_load reads the remap.config file at path and builds its rule set (see
// net_remap_parse(), which it calls with path as the name for errors). A file that cannot be
// read is an error about path with line 0. Returns the rule set, owned by the caller, or NULL
// after recording every problem in err (err may be NULL). Main thread (it reads a file).
struct net_remap *net_remap_load(const char *path, struct core_err *err);

// net_remap_parse builds a rule set from the len bytes at text (need not be NUL-terminated),
// naming problems "name_for_errors:LINE" in err (err may be NULL). It goes through the whole text
// so that every error is reported in one pass; warnings (ignored plugins and reverse_map lines, a
// rule that can never match because an earlier rule always matches first) never fail it. An
// empty text gives an empty rule set. Returns the rule set, owned by the caller, or NULL when
// there was at least one error or memory ran out ("out of memory" is then recorded). Any thread;
// in practice the main thread.
struct net_remap *net_remap_parse(const char *text, size_t len, const char *name_for_errors,
                                  struct core_err *err);

// net_remap_free frees r and every string it owns. NULL does nothing. Call it only once no reader
// can still use r (after an RCU grace period when r was published).
void net_remap_free(struct net_remap *r);

// net_remap_count returns how many `map` rules r holds (ignored reverse_map lines do not count).
// Any thread.
size_t net_remap_count(const struct net_remap *r);

// net_remap_lookup finds where a request goes. Any thread; never allocates, locks or logs.
//
// A rule matches when all of these hold:
//  - scheme: FROM's scheme is https exactly when scheme_tls is true (the client connection was
//    TLS), http otherwise;
//  - host: FROM's host equals host, compared case-insensitively, one trailing dot on host being
//    ignored. host is the request's host without port (IPv6 literal without brackets); NULL or ""
//    matches nothing;
//  - port: only when FROM wrote a port explicitly must it equal port (the port the client asked
//    for: the Host header's port, or the listening port when the header has none). Unlike ATS,
//    a FROM without a port matches every port, because tlsedge listens on arbitrary ports;
//  - path: FROM's path prefix is a plain string prefix of path (the origin-form path and query;
//    NULL or "" is taken as "/"). As in ATS, there is no segment boundary check: FROM
//    http://a.test/api matches /apix; write /api/ to stop that.
// Rules are tried in file order and the first match wins. This is ATS's order too for the subset
// tlsedge accepts: ATS puts exact-host rules before host-less and regex rules, and keeps file
// order among the rules of one host; tlsedge has neither host-less nor regex rules.
//
// When out_path is not NULL, it receives (NUL-terminated, at most out_len bytes) the path to send
// to the origin: TO's path prefix followed by the rest of path after FROM's prefix. As in ATS,
// a '/' is put between them when FROM's prefix is "/", TO's prefix does not end in '/' and the
// rest has a path before any query (FROM http://a.test/ TO http://b.test/x maps /y?q to /x/y?q).
//
// Returns the first matching rule's target (owned by r), or NULL when no rule matches or when
// out_path is not NULL and the rewritten path would not fit in out_len bytes (out_path is then
// set to "" when out_len > 0). To tell an over-long path (answer 414) from no match (404), call
// again with out_path NULL, which only matches.
const struct net_remap_target *net_remap_lookup(const struct net_remap *r, bool scheme_tls,
                                                const char *host, uint16_t port, const char *path,
                                                char *out_path, size_t out_len);

// net_remap_parse_absolute splits the absolute-form request target (RFC 9112 section 3.2.2) at
// uri, len bytes long (need not be NUL-terminated), as sent to a forward proxy:
// `http://host[:port][/path][?query]`, scheme http or https (case-insensitive).
//  - *tls is set true for https.
//  - host receives the host lower-cased and NUL-terminated, an IPv6 literal without its brackets
//    ("[::1]" gives "::1"); host_len is the size of host in bytes.
//  - *port receives the explicit port, or 80 / 443 when there is none or it is empty ("a:").
//  - *path points into uri at the path, which runs with the query to uri + len. It can be empty
//    or start with '?' when the URI has no path; the origin-form target is then "/" followed by
//    it (RFC 9112 section 3.2.1: an empty path is sent as "/").
// Userinfo ("user@host", deprecated by RFC 9110 section 4.2.4), a fragment, any control byte or
// space, a bad port (0, over 65535, not decimal), an empty or malformed host, an IPv6 zone, a
// host that does not fit host_len, and any other scheme are rejected. Returns 0, or -EINVAL (the
// outputs are then unspecified). Any thread; never allocates.
int net_remap_parse_absolute(const char *uri, size_t len, bool *tls, char *host, size_t host_len,
                             uint16_t *port, const char **path);

#endif
