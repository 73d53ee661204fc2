// SPDX-License-Identifier: Apache-2.0
// net/http1.h: strict HTTP/1.1 message heads (RFC 9112, RFC 9110) for the edge proxy: request
// and response head parsers, an incremental chunked-body scanner, and the writers of the heads
// the proxy forwards (hop-by-hop headers removed, Via and X-Forwarded-For added) and of its own
// small error responses.
//
// Nothing here allocates, blocks or keeps global state: every function works on caller storage
// and may be called from any thread, each on its own objects. The caller owns the receive buffer;
// a parsed head holds (offset, length) slices into it, so the buffer must stay unchanged (and
// may not move) for as long as the parsed struct is used with it. A proxy never buffers a whole
// body: the head parsers report the body framing, and net_http1_chunked_feed() tells how many of
// the following raw bytes belong to a chunked body, so the body can be forwarded as it arrives.
//
// Errors are negative errno values: -NET_HTTP1_E_BAD (-EBADMSG) for a malformed or ambiguous
// message, which the proxy answers with 400 (502 towards an origin) and then closes the
// connection, and -NET_HTTP1_E_TOO_LARGE (-EMSGSIZE) for a head or trailer over a limit.
#ifndef TLSEDGE_NET_HTTP1_H
#define TLSEDGE_NET_HTTP1_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// NET_HTTP1_E_BAD: the message is malformed or its framing is ambiguous (400).
#define NET_HTTP1_E_BAD EBADMSG
// NET_HTTP1_E_TOO_LARGE: the head (or a trailer section) exceeds its limit (431 for a request).
#define NET_HTTP1_E_TOO_LARGE EMSGSIZE
// NET_HTTP1_MAX_HEADERS: header field lines kept per head; one more is -NET_HTTP1_E_TOO_LARGE.
#define NET_HTTP1_MAX_HEADERS 100
// NET_HTTP1_TRAILER_MAX: bytes allowed in a chunked trailer section, final CRLF included.
#define NET_HTTP1_TRAILER_MAX 8192
// NET_HTTP1_CHUNK_LINE_MAX: bytes allowed in one chunk-size line (size and extensions, no CRLF).
#define NET_HTTP1_CHUNK_LINE_MAX 4096

// struct net_http1_slice: the bytes buf[off, off + len) of the buffer a head was parsed from.
// An absent or empty part has len 0. Heads are shorter than 2 GiB, so 32 bits suffice.
struct net_http1_slice {
    uint32_t off;
    uint32_t len;
};

// struct net_http1_header: one field line. name is a token (case as received); value has its
// leading and trailing whitespace removed and may be empty.
struct net_http1_header {
    struct net_http1_slice name;
    struct net_http1_slice value;
};

// enum net_http1_method: the request methods the proxy knows; OTHER is any other token.
enum net_http1_method {
    NET_HTTP1_METHOD_OTHER,
    NET_HTTP1_METHOD_GET,
    NET_HTTP1_METHOD_HEAD,
    NET_HTTP1_METHOD_POST,
    NET_HTTP1_METHOD_PUT,
    NET_HTTP1_METHOD_DELETE,
    NET_HTTP1_METHOD_OPTIONS,
    NET_HTTP1_METHOD_CONNECT,
    NET_HTTP1_METHOD_TRACE,
    NET_HTTP1_METHOD_PATCH,
};

// enum net_http1_target_form: the four request-target forms of RFC 9112 3.2.
enum net_http1_target_form {
    NET_HTTP1_TARGET_ORIGIN,    // "/path?query"
    NET_HTTP1_TARGET_ABSOLUTE,  // "http://host[:port]/path?query" (http or https only)
    NET_HTTP1_TARGET_AUTHORITY, // "host:port", CONNECT only
    NET_HTTP1_TARGET_ASTERISK,  // "*", OPTIONS only
};

// enum net_http1_body: how the body after a head is delimited (RFC 9112 6.3).
enum net_http1_body {
    NET_HTTP1_BODY_NONE,    // no body; the next message starts right after the head
    NET_HTTP1_BODY_LENGTH,  // exactly content_length bytes (possibly 0)
    NET_HTTP1_BODY_CHUNKED, // chunked coding: scan it with net_http1_chunked_feed()
    NET_HTTP1_BODY_EOF,     // responses only: the body ends when the origin closes
    NET_HTTP1_BODY_TUNNEL,  // responses only: 2xx to CONNECT or 101, opaque bytes follow
};

// struct net_http1_request: a parsed request head; caller storage (about 1.7 KiB), filled
// completely by net_http1_request_parse(). Slices point into the parsed buffer.
struct net_http1_request {
    enum net_http1_method method;
    struct net_http1_slice method_name; // the method token as received
    struct net_http1_slice target;      // the request-target as received
    enum net_http1_target_form form;
    // path: the target in origin-form for forwarding: the whole target (origin-form), the part
    // after the authority (absolute-form; may be empty or start with '?'), "*" (asterisk-form),
    // or empty (authority-form).
    struct net_http1_slice path;
    // authority: the URI authority of an absolute-form or authority-form target, else empty.
    struct net_http1_slice authority;
    // host: where the request is going, "name[:port]": the absolute-form authority, which wins
    // over the Host header (RFC 9112 3.2.2), else the Host header; empty only for an HTTP/1.0
    // request without Host. host_name is host without the port (an IP literal keeps its
    // brackets); port is the port number, or -1 when none is given.
    struct net_http1_slice host;
    struct net_http1_slice host_name;
    int port;
    int version;              // 10 (HTTP/1.0) or 11 (HTTP/1.1)
    enum net_http1_body body; // NONE, LENGTH or CHUNKED
    uint64_t content_length;  // the body length when body is LENGTH, else 0
    bool keep_alive;          // the client may send another request on this connection
    bool expect_continue;     // HTTP/1.1 with "Expect: 100-continue" (RFC 9110 10.1.1)
    uint32_t nheaders;
    struct net_http1_header headers[NET_HTTP1_MAX_HEADERS];
};

// struct net_http1_response: a parsed response head; caller storage, filled completely by
// net_http1_response_parse(). Slices point into the parsed buffer.
struct net_http1_response {
    int version;                   // 10 or 11
    int status;                    // 100 to 599
    struct net_http1_slice reason; // the reason phrase, possibly empty
    // interim: a 1xx other than 101; forward it and parse the next head for the same request.
    bool interim;
    enum net_http1_body body;
    uint64_t content_length; // the body length when body is LENGTH, else 0
    // keep_alive: the origin connection may carry another request after this response: the
    // version allows it (1.1 without "close", 1.0 with "keep-alive") and body is neither EOF
    // nor TUNNEL.
    bool keep_alive;
    uint32_t nheaders;
    struct net_http1_header headers[NET_HTTP1_MAX_HEADERS];
};

// net_http1_request_parse parses the request head at the start of buf (len bytes), of which at
// most max_head bytes may belong to the head (max_head is capped at INT_MAX). It returns the
// head length (the bytes up to and including the CRLF CRLF ending the head; the body or the
// next pipelined request starts there) and fills req; or 0 when buf holds a correct but
// incomplete head and len < max_head (call again with more bytes; the head is parsed from the
// start each time); or -NET_HTTP1_E_TOO_LARGE when no complete head fits in max_head bytes or it
// has more than NET_HTTP1_MAX_HEADERS field lines; or -NET_HTTP1_E_BAD for anything RFC 9112
// does not allow or that could frame the body two ways. Problems in the complete lines received
// so far are reported at once, without waiting for the end of the head.
//
// Rejected as BAD: anything but "method SP target SP HTTP/1.x CRLF" (one space each, method a
// token, target without whitespace, control characters, non-ASCII bytes or '#', version 1.0 or
// 1.1 only, so HTTP/0.9 and the HTTP/2 preface are BAD); a target form the method does not
// allow (CONNECT needs host:port, "*" needs OPTIONS, absolute-form must be http(s) with a host
// and no userinfo); more than one empty line before the request line (RFC 9112 2.2 allows one);
// a line ending in a bare LF or containing a bare CR; a field name that is not a token directly
// followed by ':'; obs-fold; a control character other than HT in a value; Content-Length that
// is not a list of equal decimal numbers fitting in 64 bits; Transfer-Encoding other than exactly
// one "chunked" (we do not decode other codings); Transfer-Encoding in HTTP/1.0 or together
// with Content-Length (RFC 9112 6.1, 6.3: request smuggling); no Host in HTTP/1.1, more than one
// Host, or a Host that is not a non-empty uri-host with an optional port of 1 to 5 digits.
//
// buf and req are borrowed; req is meaningful only after a positive return.
int net_http1_request_parse(const char *buf, size_t len, size_t max_head,
                            struct net_http1_request *req);

// net_http1_response_parse parses a response head from an origin, with the same arguments,
// return values and strictness as net_http1_request_parse() (the proxy answers a BAD or
// TOO_LARGE origin response with 502). req_method is the method of the request it answers,
// which decides the framing (RFC 9112 6.3): a response to HEAD, 1xx, 204 and 304 have no body;
// 101 and 2xx to CONNECT are TUNNEL; then chunked, then Content-Length, else EOF. The
// status-line is "HTTP/1.x SP 3DIGIT SP reason CRLF"; the space and reason may be left out
// (common in practice, and nothing depends on the reason). The status must be 100 to 599.
// Framing headers are checked as in requests even when the status means no body.
int net_http1_response_parse(const char *buf, size_t len, size_t max_head,
                             enum net_http1_method req_method, struct net_http1_response *resp);

// net_http1_parse_status maps the result rc of a head parser to the status code the proxy
// answers a client with: 400 for -NET_HTTP1_E_BAD and other negative values, 431 (Request
// Header Fields Too Large, RFC 6585; ATS answers 400 here) for -NET_HTTP1_E_TOO_LARGE, and 0
// when rc is not an error.
int net_http1_parse_status(int rc);

// net_http1_header_find returns the first of the n headers hdrs (parsed from buf) whose name
// equals name, ignoring ASCII case, or NULL when there is none. To find the next one, call
// again with the headers after the one returned. The result points into hdrs.
const struct net_http1_header *net_http1_header_find(const struct net_http1_header *hdrs, size_t n,
                                                     const char *buf, const char *name);

// enum net_http1_chunked_state: where net_http1_chunked_feed() is in a chunked body
// (RFC 9112 7.1). DONE and ERROR are terminal.
enum net_http1_chunked_state {
    NET_HTTP1_CHUNKED_SIZE_FIRST,    // expecting the first hex digit of a chunk-size
    NET_HTTP1_CHUNKED_SIZE,          // in the chunk-size
    NET_HTTP1_CHUNKED_EXT_BWS,       // whitespace after the chunk-size, ';' must follow
    NET_HTTP1_CHUNKED_EXT,           // in chunk extensions
    NET_HTTP1_CHUNKED_SIZE_LF,       // CR ended the chunk-size line, expecting LF
    NET_HTTP1_CHUNKED_DATA,          // in chunk-data
    NET_HTTP1_CHUNKED_DATA_CR,       // expecting the CR after chunk-data
    NET_HTTP1_CHUNKED_DATA_LF,       // expecting the LF after chunk-data
    NET_HTTP1_CHUNKED_TRAILER_START, // at the start of a trailer line or of the final CRLF
    NET_HTTP1_CHUNKED_TRAILER_NAME,  // in a trailer field name
    NET_HTTP1_CHUNKED_TRAILER_VALUE, // in a trailer field value
    NET_HTTP1_CHUNKED_TRAILER_LF,    // CR ended a trailer line, expecting LF
    NET_HTTP1_CHUNKED_END_LF,        // CR of the final CRLF, expecting LF
    NET_HTTP1_CHUNKED_DONE,          // the body is complete
    NET_HTTP1_CHUNKED_ERROR,         // the body is malformed; the connection must close
};

// struct net_http1_chunked: the scanner of one chunked body; caller storage, set up with
// net_http1_chunked_init(). state may be read; fields starting with '_' belong to http1.c.
struct net_http1_chunked {
    enum net_http1_chunked_state state;
    uint64_t data_total; // decoded chunk-data bytes seen so far
    int _error;          // the negative errno returned again once in ERROR
    uint32_t _digits;    // hex digits of the chunk-size being read
    uint32_t _line;      // bytes of the current chunk-size line
    uint32_t _trailer;   // bytes of the trailer section so far
    uint64_t _size;      // chunk-size being read, then chunk-data bytes left
};

// net_http1_chunked_init prepares c for a new body, starting at its first chunk-size.
void net_http1_chunked_init(struct net_http1_chunked *c);

// net_http1_chunked_feed scans the next len raw bytes in of a chunked body (in may be NULL
// when len is 0). Input may be split anywhere, down to one byte per call; nothing is copied
// and in is not kept.
//
// In the raw mode (data_off and data_len NULL) it consumes as much as belongs to the body and
// sets *consumed to that count: in[0, *consumed) are body bytes still in chunked form, to be
// forwarded unchanged. It returns 1 when the body is complete (*consumed then ends just after
// the final CRLF of the trailer section; the bytes after it belong to the next message), or 0
// when all len bytes were consumed and the body goes on.
//
// With data_off and data_len (the decoding mode; both NULL or both set), it also reports the
// decoded chunk-data: it stops before a second run of chunk-data in the input and sets
// *data_off and *data_len to the offset in in and the length of the run it consumed (both 0
// when this call consumed no chunk-data). It may so return 0 with *consumed < len: call again
// with the remaining bytes.
//
// It returns -NET_HTTP1_E_BAD for a malformed body: a chunk-size that is not 1 to 16 hex digits
// (so no overflow), a chunk extension not starting with ';' or holding a control character,
// chunk-data not followed by CRLF, a bare LF or bare CR, a malformed trailer field or obs-fold;
// and -NET_HTTP1_E_TOO_LARGE for a chunk-size line over NET_HTTP1_CHUNK_LINE_MAX bytes (CRLF
// not counted) or a trailer section over NET_HTTP1_TRAILER_MAX bytes. *consumed is then the
// count of bytes before the offending one. Once the body is complete or malformed, c stays so:
// later calls consume nothing and return 1 or the same error. All arguments are borrowed.
int net_http1_chunked_feed(struct net_http1_chunked *c, const char *in, size_t len,
                           size_t *consumed, size_t *data_off, size_t *data_len);

// net_http1_chunked_state_name returns the name of state s for logs ("size", "data", ...), or
// "?" for a value outside the enum. The string is static.
const char *net_http1_chunked_state_name(enum net_http1_chunked_state s);

// net_http1_chunk_head_write writes the chunk-size line for n data bytes ("<hex>\r\n") to out,
// for re-framing a close-delimited body as chunked: the caller then writes the n bytes and
// "\r\n"; the last chunk is n = 0 followed by "\r\n". Returns the bytes written, or -ENOSPC
// when out_len is too small (out is then undefined). out is borrowed.
int net_http1_chunk_head_write(uint64_t n, char *out, size_t out_len);

// struct net_http1_proxy_opts: how net_http1_request_write_proxy() rewrites a request head.
// The strings are borrowed, NUL-terminated and must not contain control characters.
struct net_http1_proxy_opts {
    const char *host;      // Host to send; NULL: the request's own host (req->host)
    const char *path;      // origin-form target to send ("/..."); NULL: the request's path
    const char *via_name;  // pseudonym added to Via ("1.x <via_name>"); NULL: no Via added
    const char *client_ip; // appended to X-Forwarded-For; NULL: nothing appended
    bool origin_close;     // send "Connection: close": the origin connection is not reused
};

// net_http1_request_write_proxy writes to out (out_len bytes) the head of req, parsed from
// buf, as the proxy sends it to an origin: "method SP target SP HTTP/1.1" with the target in
// origin-form (o->path, or req's path, "/" when it is empty, or "*" for OPTIONS *), then
// "Host: " with o->host (or req->host, so an absolute-form authority wins over the client's
// Host), then every header of req in order except Host, the hop-by-hop headers (Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Authenticate)
// and the headers named in Connection. Content-Length and Transfer-Encoding are kept as
// received (the body is forwarded unchanged) even when Connection names them, since dropping
// them would let the client reframe its body for the origin. Existing Via and X-Forwarded-For
// lines are merged into one line each, with "<1.0|1.1> <o->via_name>" (the version the client
// used, RFC 9110 7.6.3) and o->client_ip appended. Last comes "Connection: close" when
// o->origin_close; nothing otherwise, since HTTP/1.1 to the origin is persistent by default.
//
// Returns the bytes written (no NUL), -ENOSPC when out_len is too small (out is then
// undefined), or -EINVAL for a CONNECT request (a tunnel is not forwarded as a request) or an
// option string with a control character, or o->path not starting with '/'. All arguments are
// borrowed.
int net_http1_request_write_proxy(const char *buf, const struct net_http1_request *req,
                                  const struct net_http1_proxy_opts *o, char *out, size_t out_len);

// struct net_http1_resp_opts: how net_http1_response_write_proxy() rewrites a response head.
struct net_http1_resp_opts {
    const char *via_name; // pseudonym added to Via; NULL: no Via added. Borrowed.
    bool client_close;    // send "Connection: close"; the proxy closes after the body
    bool client_http10;   // the client spoke HTTP/1.0: keeping it needs "Connection: keep-alive"
    // rechunk: the body is EOF-delimited and the HTTP/1.1 client connection stays open, so the
    // proxy re-frames it as chunked (net_http1_chunk_head_write) and the head gets
    // "Transfer-Encoding: chunked".
    bool rechunk;
};

// net_http1_response_write_proxy writes to out (out_len bytes) the head of resp, parsed from
// buf, as the proxy sends it to the client: "HTTP/1.1 <status> <reason>", the headers of resp
// in order except the hop-by-hop ones and those named in Connection (framing headers are kept,
// as for requests), one merged Via line with "<1.0|1.1> <o->via_name>" appended, then
// "Transfer-Encoding: chunked" when o->rechunk, then "Connection: close" when o->client_close,
// or "Connection: keep-alive" when o->client_http10 and the client is kept. Interim (1xx)
// responses get no Connection line.
//
// Returns the bytes written, -ENOSPC when out_len is too small, or -EINVAL when the framing
// cannot work: o->rechunk for a body that is not EOF or for an HTTP/1.0 client (RFC 9112 6.1
// forbids chunked towards it), an EOF body on a kept connection without o->rechunk, or a 101
// (upgrades are not proxied; the request's Upgrade header was removed). All arguments are
// borrowed.
int net_http1_response_write_proxy(const char *buf, const struct net_http1_response *resp,
                                   const struct net_http1_resp_opts *o, char *out, size_t out_len);

// net_http1_status_reason returns the standard reason phrase of status (RFC 9110 15), or
// "Unknown" for a code it does not know. The string is static.
const char *net_http1_status_reason(int status);

// net_http1_error_write writes to out (out_len bytes) a complete error response from the proxy
// itself: "HTTP/1.1 <status> <reason>", "Content-Type: text/plain", "Content-Length", and
// "Connection: close" when close is set, then body (NULL: the reason phrase and a newline).
// No Server header is sent. Returns the bytes written, -ENOSPC when out_len is too small, or
// -EINVAL when status is not 400 to 599. body and out are borrowed.
int net_http1_error_write(int status, const char *body, bool close, char *out, size_t out_len);

#endif
