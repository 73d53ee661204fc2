// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/err.c.
#include "core/err.h"

#include <criterion/criterion.h>
#include <string.h>

Test(core_err, formats_file_line_reason)
{
    struct core_err err;
    char buf[512];
    core_err_init(&err);
    core_err_add(&err, "records.config", 12, "bad type '%s'", "INTX");
    core_err_warn(&err, "records.config", 0, "unknown name");
    core_err_add(&err, NULL, 0, "plain");
    cr_assert(core_err_failed(&err));
    cr_assert_eq(err.errors, 2);
    cr_assert_eq(err.warnings, 1);
    cr_assert_str_eq(core_err_format(&err, 0, buf, sizeof(buf)),
                     "records.config:12: bad type 'INTX'");
    cr_assert_str_eq(core_err_format(&err, 1, buf, sizeof(buf)), "records.config: unknown name");
    cr_assert_str_eq(core_err_format(&err, 2, buf, sizeof(buf)), "plain");
}

Test(core_err, keeps_counting_past_capacity)
{
    struct core_err err;
    core_err_init(&err);
    for (int i = 0; i < CORE_ERR_KEEP + 5; i++)
        core_err_warn(&err, "f", i + 1, "w%d", i);
    cr_assert_not(core_err_failed(&err));
    cr_assert_eq(err.warnings, CORE_ERR_KEEP + 5);
    cr_assert_eq(err.kept, CORE_ERR_KEEP);
}
