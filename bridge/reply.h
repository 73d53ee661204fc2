// SPDX-License-Identifier: Apache-2.0
// bridge/reply.h: the tls_bridge peer's reply to a replayed CONNECT, recognised by a restartable
// state machine that takes the bytes in whatever pieces the network delivers (one byte per read
// included).
//
// The end of the reply head is found with the CR/LF machine of ATS's TLS Bridge documentation:
// four states (nothing, CR, CR LF, CR LF CR), where LF after CR LF CR ends the head and any other
// byte falls back; it keeps no more than its state between calls. Beside it the status line is
// collected (it is needed for the status) and checked: "HTTP/1.x SP 3DIGIT [SP reason]". Interim
// 1xx heads are skipped, as RFC 9110 section 15.2 lets them precede the final answer. The whole
// reply head is bounded (BRIDGE_REPLY_HEAD_MAX); the fields are not parsed: the bridge only needs
// the status, and tlsedge answers the client with its own head.
//
// Pure: no I/O, no allocation, no logging. A struct bridge_reply is caller storage, used by one
// thread at a time.
#ifndef TLSEDGE_BRIDGE_REPLY_H
#define TLSEDGE_BRIDGE_REPLY_H

#include <stddef.h>
#include <stdint.h>

// The longest reply head (interim heads included) accepted from a peer.
#define BRIDGE_REPLY_HEAD_MAX 16384
// The longest status line kept (CR LF excluded); a longer one is refused as too big.
#define BRIDGE_REPLY_LINE_MAX 512
// The longest reason phrase kept from the status line (longer ones are cut).
#define BRIDGE_REPLY_REASON_MAX 128

// enum bridge_crlf: the CR/LF machine that finds the blank line ending a head.
enum bridge_crlf {
    BRIDGE_CRLF_NONE,   // in the middle of a line
    BRIDGE_CRLF_CR,     // after CR
    BRIDGE_CRLF_CRLF,   // after CR LF: a line ended
    BRIDGE_CRLF_CRLFCR, // after CR LF CR; LF now ends the head
    BRIDGE_CRLF_END,    // CR LF CR LF seen (terminal for this head)
};

// enum bridge_reply_state: where the parse of the whole reply stands.
enum bridge_reply_state {
    BRIDGE_REPLY_STATUS,  // collecting the status line
    BRIDGE_REPLY_FIELDS,  // status line parsed; waiting for the blank line
    BRIDGE_REPLY_DONE,    // terminal: the final head ended; status and reason are set
    BRIDGE_REPLY_INVALID, // terminal: not an HTTP/1.x status line (garbage, bare LF, NUL ...)
    BRIDGE_REPLY_TOO_BIG, // terminal: the head passed BRIDGE_REPLY_HEAD_MAX or the status line
                          // BRIDGE_REPLY_LINE_MAX
};

// struct bridge_reply: the parse state; caller storage, prepared by bridge_reply_init.
struct bridge_reply {
    enum bridge_reply_state state;
    enum bridge_crlf crlf;
    int status;      // the last status line's code (the final one once DONE)
    int interim;     // 1xx heads skipped so far
    size_t head_len; // bytes taken so far, interim heads included
    size_t line_len; // bytes of the status line collected in line
    char line[BRIDGE_REPLY_LINE_MAX + 1];
    char reason[BRIDGE_REPLY_REASON_MAX + 1]; // the final status line's reason (NUL-terminated)
};

// bridge_reply_init prepares r for a new reply.
void bridge_reply_init(struct bridge_reply *r);

// bridge_reply_feed takes bytes from data[0..len) until the final head ended or the reply was
// refused, and returns how many it took: all of them while the head goes on, fewer when the
// head ended inside data (the rest belongs to the tunnel: the service's first bytes). Once r is
// in a terminal state it takes nothing (returns 0). data may be NULL when len is 0.
size_t bridge_reply_feed(struct bridge_reply *r, const uint8_t *data, size_t len);

// bridge_reply_state_name returns a name for logs ("STATUS", "DONE", ...).
const char *bridge_reply_state_name(enum bridge_reply_state s);

// bridge_crlf_name returns a name for logs ("NONE", "CR", ...).
const char *bridge_crlf_name(enum bridge_crlf s);

// bridge_crlf_next returns the CR/LF machine's next state from s on byte c (the seed's table).
enum bridge_crlf bridge_crlf_next(enum bridge_crlf s, uint8_t c);

#endif
