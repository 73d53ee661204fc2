// SPDX-License-Identifier: Apache-2.0
// core/assert.h: CORE_ASSERT, the check for tlsedge's own invariants.
//
// CORE_ASSERT stays on in release builds (it does not depend on NDEBUG): a broken invariant is
// a bug, and stopping at once with the file, line and condition in the log is better than
// serving from corrupted state. It is never used for peer input, configuration or a failed
// allocation (see STYLE.md, "Errors"); those are reported and handled. Any thread may assert.
#ifndef TLSEDGE_CORE_ASSERT_H
#define TLSEDGE_CORE_ASSERT_H

#include <stdlib.h>

#include "core/log.h"

// CORE_ASSERT evaluates cond once; when it is false it logs "assertion failed" with the source
// file, line and the text of cond through core_log_error(), then calls abort(). It never
// returns in that case. Usable from any thread.
#define CORE_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            core_log_error("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
