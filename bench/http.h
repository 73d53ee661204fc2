// SPDX-License-Identifier: Apache-2.0
// bench/http.h: the HTTP/1.1 client side of tlsedge-bench: the one request every connection
// sends, formatted once at start, and an incremental response parser that discards the body
// as it arrives (Content-Length, chunked, or delimited by the close).
//
// Threads: a parser belongs to one connection and so to one worker thread. Ownership: the
// parser keeps the response head in a buffer its caller lends it for the parser's lifetime;
// nothing here allocates.
#ifndef TLSEDGE_BENCH_HTTP_H
#define TLSEDGE_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// enum bench_http_state: where the parser is in one response.
enum bench_http_state {
    BENCH_HTTP_HEAD,       // reading the status line and headers
    BENCH_HTTP_BODY_LEN,   // Content-Length body: _remaining bytes to go
    BENCH_HTTP_BODY_CLOSE, // body delimited by the close
    BENCH_HTTP_CHUNK_SIZE, // a chunk-size line
    BENCH_HTTP_CHUNK_DATA, // chunk data: _remaining bytes to go
    BENCH_HTTP_CHUNK_CRLF, // the CRLF after chunk data
    BENCH_HTTP_TRAILER,    // trailer lines up to the empty line
    BENCH_HTTP_DONE,       // the response is complete
};

// struct bench_http_resp: one response being parsed. Set up with bench_http_resp_init(), and
// reset with bench_http_resp_reset() before each response. Fields starting with '_' belong to
// bench/http.c; the others are results, valid once the head has been parsed.
struct bench_http_resp {
    int status;          // the status code
    bool close;          // the server will close after this response (Connection: close, 1.0)
    uint64_t body_bytes; // body bytes seen so far (chunked: decoded data bytes)
    enum bench_http_state _state;
    uint8_t *_head;          // lent buffer for the head
    size_t _cap;             // its size
    size_t _len;             // head bytes held
    uint64_t _remaining;     // bytes left in the body or chunk
    uint64_t _line;          // bytes on the current chunk-size or trailer line
    uint64_t _total_trailer; // trailer bytes so far
    bool _cr;                // chunk line or chunk CRLF: saw the CR
    bool _ext;               // chunk-size line: in an extension
    bool _digits;            // chunk-size line: saw a hex digit
};

// bench_http_request_format writes "GET path HTTP/1.1" with Host: host (and a User-Agent) into
// buf (len bytes). Returns the request length, or -ENOSPC when it does not fit.
int bench_http_request_format(char *buf, size_t len, const char *path, const char *host);

// bench_http_resp_init sets r up to keep response heads in head (cap bytes, borrowed for as long
// as r is used) and resets it.
void bench_http_resp_init(struct bench_http_resp *r, uint8_t *head, size_t cap);

// bench_http_resp_reset prepares r for the next response.
void bench_http_resp_reset(struct bench_http_resp *r);

// bench_http_resp_feed parses len bytes at data (borrowed for the call). Returns 0 when the
// response needs more bytes, 1 when it is complete (and data held exactly its end), -EPROTO
// for a malformed response or bytes after its end, or -E2BIG for a head larger than the
// buffer.
int bench_http_resp_feed(struct bench_http_resp *r, const uint8_t *data, size_t len);

// bench_http_resp_eof tells r the server closed the connection. Returns 1 when that completes
// the response (a body delimited by the close, or a response already complete), or -EPIPE when
// the response was cut short.
int bench_http_resp_eof(struct bench_http_resp *r);

#endif
