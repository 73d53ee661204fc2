// SPDX-License-Identifier: Apache-2.0
// bridge/config.h: the tls_bridge destination table: which CONNECT targets go to which peer.
//
// A plugin.config line whose plugin is named tls_bridge.so (any directory; no such file needs to
// exist) enables tlsedge's built-in bridge with ATS's arguments:
//
//     tls_bridge.so <regex> <peer[:port]> [<regex> <peer[:port]> ...] [--file <path>]
//
// Pairs are read in argument order; `--file PATH` (relative to the configuration directory)
// inserts the pairs of that file at its place, one pair per line, `#` starting a comment. A
// regex is POSIX extended syntax, anchored at both ends, and is matched against the CONNECT
// target's "host:port", then against the host alone; the first pair that matches names the
// peer. A peer is "host", "host:port", "[v6]:port" (port 443 when none is given). As in ATS, a
// pair with a bad regex, a missing or bad peer, or an unreadable --file is reported (a warning
// with file:line) and skipped; a tls_bridge line that defines no pair logs "No destinations
// defined, plugin disabled". Several tls_bridge lines add to one table, in file order.
//
// The table is part of the configuration snapshot (core/snapshot.h CORE_SNAP_BRIDGE): built on
// the main thread at start-up and on every reload, immutable once published, read by workers
// under RCU.
#ifndef TLSEDGE_BRIDGE_CONFIG_H
#define TLSEDGE_BRIDGE_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_err;

// The plugin.config name that enables the built-in bridge.
#define BRIDGE_PLUGIN_NAME "tls_bridge.so"

// struct bridge_dest: one destination pair. Owned by its table.
struct bridge_dest {
    char *pattern;   // the regex as configured
    regex_t re;      // compiled, anchored
    char *peer;      // the peer as configured ("peer.example:4443")
    char host[256];  // the peer's host (brackets removed)
    uint16_t port;   // the peer's port
    char where[200]; // "plugin.config:3" or "bridge.conf:12", for logs
};

// struct bridge_config: the destination table. Owned by its snapshot.
struct bridge_config {
    struct bridge_dest *dest;
    size_t n, cap;
    char *confdir; // for --file (NULL: the current directory)
    int lines;     // tls_bridge lines seen (0: the bridge is not configured)
};

// bridge_config_new returns an empty table whose --file paths resolve against confdir (copied;
// NULL: the current directory), or NULL when out of memory. Main thread.
struct bridge_config *bridge_config_new(const char *confdir);

// bridge_config_add_args adds the pairs of one tls_bridge line: argc words of argv (the
// arguments after the plugin name), from file:line (for messages). Each problem is a warning in
// err naming the file and line; a line that adds no pair warns "No destinations defined, plugin
// disabled". Returns the number of pairs added, or -ENOMEM. Main thread (or a test).
int bridge_config_add_args(struct bridge_config *c, int argc, const char *const *argv,
                           const char *file, int line, struct core_err *err);

// bridge_config_add_text adds the pairs of len bytes of --file text (one "regex peer" pair a
// line, `#` comments), named name in messages. Returns the number of pairs added, or -ENOMEM.
int bridge_config_add_text(struct bridge_config *c, const char *text, size_t len, const char *name,
                           struct core_err *err);

// bridge_config_match returns the first destination whose regex matches "host:port", or else
// host alone; NULL when none does (or c is NULL). Borrowed from c. Any thread, inside an RCU
// read-side section when c is a published table.
const struct bridge_dest *bridge_config_match(const struct bridge_config *c, const char *host,
                                              uint16_t port);

// bridge_config_free frees c; NULL is a no-op.
void bridge_config_free(struct bridge_config *c);

// bridge_peer_parse splits peer ("host", "host:port", "[v6]" or "[v6]:port") into host (len
// bytes) and *port (default_port when none is given). Returns 0, or -EINVAL for an empty host,
// a host too long, or a port that is not 1-65535.
int bridge_peer_parse(const char *peer, uint16_t default_port, char *host, size_t len,
                      uint16_t *port);

#endif
