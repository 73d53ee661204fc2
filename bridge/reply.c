// SPDX-License-Identifier: Apache-2.0
// bridge/reply.c: the restartable parser of a tls_bridge peer's CONNECT reply (see
// bridge/reply.h): the CR/LF machine that finds the end of the head, and the status line.
#include "bridge/reply.h"

#include <stdbool.h>
#include <string.h>

// Byte classes of the CR/LF machine.
enum crlf_class { CLS_CR, CLS_LF, CLS_OTHER, CLS_N };

// The machine of ATS's TLS Bridge documentation, one row per state: a CR always leads to CR
// (a line may end in CR CR LF as far as the search is concerned), LF completes CR LF and, after
// CR LF CR, the head; anything else starts over.
static const enum bridge_crlf crlf_table[][CLS_N] = {
    [BRIDGE_CRLF_NONE] = {BRIDGE_CRLF_CR, BRIDGE_CRLF_NONE, BRIDGE_CRLF_NONE},
    [BRIDGE_CRLF_CR] = {BRIDGE_CRLF_CR, BRIDGE_CRLF_CRLF, BRIDGE_CRLF_NONE},
    [BRIDGE_CRLF_CRLF] = {BRIDGE_CRLF_CRLFCR, BRIDGE_CRLF_NONE, BRIDGE_CRLF_NONE},
    [BRIDGE_CRLF_CRLFCR] = {BRIDGE_CRLF_CR, BRIDGE_CRLF_END, BRIDGE_CRLF_NONE},
    [BRIDGE_CRLF_END] = {BRIDGE_CRLF_END, BRIDGE_CRLF_END, BRIDGE_CRLF_END},
};

enum bridge_crlf bridge_crlf_next(enum bridge_crlf s, uint8_t c)
{
    enum crlf_class k = c == '\r' ? CLS_CR : c == '\n' ? CLS_LF : CLS_OTHER;
    return (unsigned)s <= BRIDGE_CRLF_END ? crlf_table[s][k] : BRIDGE_CRLF_NONE;
}

const char *bridge_crlf_name(enum bridge_crlf s)
{
    static const char *const names[] = {
        [BRIDGE_CRLF_NONE] = "NONE",     [BRIDGE_CRLF_CR] = "CR",   [BRIDGE_CRLF_CRLF] = "CRLF",
        [BRIDGE_CRLF_CRLFCR] = "CRLFCR", [BRIDGE_CRLF_END] = "END",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *bridge_reply_state_name(enum bridge_reply_state s)
{
    static const char *const names[] = {
        [BRIDGE_REPLY_STATUS] = "STATUS",   [BRIDGE_REPLY_FIELDS] = "FIELDS",
        [BRIDGE_REPLY_DONE] = "DONE",       [BRIDGE_REPLY_INVALID] = "INVALID",
        [BRIDGE_REPLY_TOO_BIG] = "TOO_BIG",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void bridge_reply_init(struct bridge_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->state = BRIDGE_REPLY_STATUS;
    r->crlf = BRIDGE_CRLF_NONE;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// A status line byte (RFC 9112 section 4): HT, SP, VCHAR, obs-text. CR and LF never get here.
static bool line_char(uint8_t c)
{
    return c == '\t' || c >= ' ';
}

// Parses r->line ("HTTP/1.x SP 3DIGIT [SP reason]"). Returns false when it is not one.
static bool parse_status_line(struct bridge_reply *r)
{
    const char *s = r->line;
    if (r->line_len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' ||
        !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]))
        return false;
    if (r->line_len > 12 && s[12] != ' ')
        return false;
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (r->status < 100)
        return false;
    const char *reason = r->line_len > 13 ? s + 13 : "";
    size_t n = strlen(reason);
    if (n > BRIDGE_REPLY_REASON_MAX)
        n = BRIDGE_REPLY_REASON_MAX;
    memcpy(r->reason, reason, n);
    r->reason[n] = '\0';
    return true;
}

// One byte of the status line; prev is the CR/LF state before it. Returns the new state.
static enum bridge_reply_state status_byte(struct bridge_reply *r, uint8_t c, enum bridge_crlf prev)
{
    if (c == '\r')
        return BRIDGE_REPLY_STATUS; // the end of the line, if LF follows (decided next byte)
    if (c == '\n') {
        if (prev != BRIDGE_CRLF_CR)
            return BRIDGE_REPLY_INVALID; // a bare LF: this bridge speaks to peers that use CR LF
        r->line[r->line_len] = '\0';
        return parse_status_line(r) ? BRIDGE_REPLY_FIELDS : BRIDGE_REPLY_INVALID;
    }
    if (prev == BRIDGE_CRLF_CR || !line_char(c))
        return BRIDGE_REPLY_INVALID; // a CR inside the line, NUL or another control byte
    // Garbage shows at once, not after BRIDGE_REPLY_HEAD_MAX bytes: the line starts "HTTP/".
    if (r->line_len < 5 && c != (uint8_t) "HTTP/"[r->line_len])
        return BRIDGE_REPLY_INVALID;
    if (r->line_len == BRIDGE_REPLY_LINE_MAX)
        return BRIDGE_REPLY_TOO_BIG;
    r->line[r->line_len++] = (char)c;
    return BRIDGE_REPLY_STATUS;
}

// The blank line ended a head: a 1xx other than 101 is interim (the final head follows);
// anything else is the answer.
static enum bridge_reply_state head_ended(struct bridge_reply *r)
{
    if (r->status >= 100 && r->status < 200 && r->status != 101) {
        r->interim++;
        r->line_len = 0;
        r->crlf = BRIDGE_CRLF_NONE;
        return BRIDGE_REPLY_STATUS;
    }
    return BRIDGE_REPLY_DONE;
}

size_t bridge_reply_feed(struct bridge_reply *r, const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && (r->state == BRIDGE_REPLY_STATUS || r->state == BRIDGE_REPLY_FIELDS)) {
        if (r->head_len == BRIDGE_REPLY_HEAD_MAX) {
            r->state = BRIDGE_REPLY_TOO_BIG;
            break;
        }
        uint8_t c = data[i++];
        enum bridge_crlf prev = r->crlf;
        r->head_len++;
        r->crlf = bridge_crlf_next(prev, c);
        if (r->state == BRIDGE_REPLY_STATUS)
            r->state = status_byte(r, c, prev);
        else if (r->crlf == BRIDGE_CRLF_END)
            r->state = head_ended(r);
    }
    if (r->state == BRIDGE_REPLY_TOO_BIG || r->state == BRIDGE_REPLY_INVALID)
        r->status = 0;
    return i;
}
