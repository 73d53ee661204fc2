// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/records.c: records.config syntax, declarations, errors, set/dup/write.
#include "core/err.h"
#include "core/records.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct core_records *recs;
static struct core_err err;

static void setup(void)
{
    recs = core_records_new();
    cr_assert_not_null(recs);
    core_err_init(&err);
    cr_assert_eq(core_records_declare(recs, "t.int", CORE_REC_INT, "10"), 0);
    cr_assert_eq(core_records_declare(recs, "t.str", CORE_REC_STRING, "dflt"), 0);
    cr_assert_eq(core_records_declare(recs, "t.float", CORE_REC_FLOAT, "0.5"), 0);
}

static void teardown(void)
{
    core_records_free(recs);
}

static int parse(const char *text)
{
    return core_records_parse(recs, text, strlen(text), "records.config", &err);
}

static const char *entry(int i)
{
    static char buf[512];
    return core_err_format(&err, i, buf, sizeof(buf));
}

// int_of parses "CONFIG t.int INT <value>" and returns the result (0 or -EINVAL).
static int int_of(const char *value, int64_t *out)
{
    char line[256];
    snprintf(line, sizeof(line), "CONFIG t.int INT %s\n", value);
    int rc = parse(line);
    *out = core_records_get_int(recs, "t.int");
    return rc;
}

TestSuite(core_records, .init = setup, .fini = teardown);

Test(core_records, defaults_before_load_and_not_set)
{
    cr_assert_eq(core_records_get_int(recs, "t.int"), 10);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "dflt");
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), 0.5, 1e-12);
    cr_assert_not(core_records_is_set(recs, "t.int"));
    cr_assert_not(core_records_is_set(recs, "t.str"));
}

Test(core_records, each_type_parses_good_values)
{
    cr_assert_eq(parse("CONFIG t.int INT -42\n"
                       "CONFIG t.str STRING hello\n"
                       "CONFIG t.float FLOAT 2.25\n"),
                 0);
    cr_assert_eq(core_records_get_int(recs, "t.int"), -42);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "hello");
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), 2.25, 1e-12);
    cr_assert(core_records_is_set(recs, "t.int"));
    cr_assert(core_records_is_set(recs, "t.float"));
    cr_assert_eq(err.errors + err.warnings, 0);
}

Test(core_records, int_suffixes_are_powers_of_1024)
{
    int64_t v;
    cr_assert_eq(int_of("4K", &v), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(int_of("3M", &v), 0);
    cr_assert_eq(v, 3 << 20);
    cr_assert_eq(int_of("2G", &v), 0);
    cr_assert_eq(v, 2LL << 30);
    cr_assert_eq(int_of("1T", &v), 0);
    cr_assert_eq(v, 1LL << 40);
    cr_assert_eq(int_of("-1K", &v), 0);
    cr_assert_eq(v, -1024);
    cr_assert_eq(int_of("+7", &v), 0);
    cr_assert_eq(v, 7);
}

Test(core_records, int_hex_and_limits)
{
    int64_t v;
    cr_assert_eq(int_of("0x1F", &v), 0);
    cr_assert_eq(v, 31);
    cr_assert_eq(int_of("0xff", &v), 0);
    cr_assert_eq(v, 255);
    cr_assert_eq(int_of("9223372036854775807", &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(int_of("-9223372036854775808", &v), 0);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(int_of("0x7fffffffffffffff", &v), 0);
    cr_assert_eq(v, INT64_MAX);
}

Test(core_records, int_bad_values_are_errors_and_keep_the_old_value)
{
    static const char *const bad[] = {
        "abc",
        "12x",
        "4k",
        "4KB",
        "1.5",
        "0x",
        "0xg1",
        "-",
        "--1",
        "- 1",
        "12 34",
        "9223372036854775808",
        "-9223372036854775809",
        "8388608T",
        "0x8000000000000000",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        int64_t v;
        core_err_init(&err);
        cr_assert_eq(int_of(bad[k], &v), -EINVAL, "value '%s' accepted", bad[k]);
        cr_assert_eq(v, 10, "value '%s' changed the record", bad[k]);
        cr_assert_eq(err.errors, 1);
        cr_assert_eq(err.entry[0].line, 1);
    }
    cr_assert_not(core_records_is_set(recs, "t.int"));
}

Test(core_records, float_values_good_and_bad)
{
    cr_assert_eq(parse("CONFIG t.float FLOAT 1e3\n"), 0);
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), 1000.0, 1e-9);
    cr_assert_eq(parse("CONFIG t.float FLOAT -0.125\n"), 0);
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), -0.125, 1e-12);
    cr_assert_eq(parse("CONFIG t.float FLOAT 7\n"), 0);
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), 7.0, 1e-12);
    cr_assert_eq(parse("CONFIG t.float FLOAT 1.5x\n"), -EINVAL);
    cr_assert_eq(parse("CONFIG t.float FLOAT abc\n"), -EINVAL);
    cr_assert_eq(parse("CONFIG t.float FLOAT 1e999\n"), -EINVAL);
    cr_assert_eq(parse("CONFIG t.float FLOAT nan\n"), -EINVAL);
    cr_assert_eq(parse("CONFIG t.float FLOAT 1 2\n"), -EINVAL);
    cr_assert_eq(err.errors, 5);
    cr_assert_float_eq(core_records_get_float(recs, "t.float"), 7.0, 1e-12);
}

Test(core_records, string_is_rest_of_line_trimmed_and_null_is_empty)
{
    cr_assert_eq(parse("CONFIG t.str STRING   a b\tc  # not a comment  \r\n"), 0);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "a b\tc  # not a comment");
    cr_assert_eq(parse("CONFIG t.str STRING NULL\n"), 0);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "");
    cr_assert(core_records_is_set(recs, "t.str"));
    cr_assert_eq(parse("CONFIG t.str STRING NULLx\n"), 0);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "NULLx");
}

Test(core_records, comments_blank_lines_leading_space_and_local)
{
    cr_assert_eq(parse("# a comment\n"
                       "\n"
                       "   \t\n"
                       "   # indented comment\n"
                       "  LOCAL t.int INT 5\n"
                       "\tCONFIG\tt.str\tSTRING\tx\n"),
                 0);
    cr_assert_eq(core_records_get_int(recs, "t.int"), 5);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "x");
    cr_assert_eq(err.errors + err.warnings, 0);
}

Test(core_records, last_line_needs_no_newline_and_later_lines_override)
{
    cr_assert_eq(parse("CONFIG t.int INT 1\nCONFIG t.int INT 2\nCONFIG t.int INT 3"), 0);
    cr_assert_eq(core_records_get_int(recs, "t.int"), 3);
}

Test(core_records, unknown_name_warned_once_per_name_per_load)
{
    const char *text = "CONFIG x.a INT 1\n"
                       "CONFIG x.b STRING y\n"
                       "CONFIG x.a INT 2\n"
                       "CONFIG t.int INT 4\n";
    cr_assert_eq(parse(text), 0);
    cr_assert_eq(err.errors, 0);
    cr_assert_eq(err.warnings, 2);
    cr_assert(err.entry[0].warning);
    cr_assert_str_eq(entry(0), "records.config:1: unknown record name 'x.a', ignored");
    cr_assert_str_eq(entry(1), "records.config:2: unknown record name 'x.b', ignored");
    cr_assert_eq(core_records_get_int(recs, "t.int"), 4);
    // A second load warns again.
    cr_assert_eq(parse(text), 0);
    cr_assert_eq(err.warnings, 4);
}

Test(core_records, many_unknown_names_each_warned_once)
{
    size_t cap = 200 * 40, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 100; k++)
            len += (size_t)snprintf(text + len, cap - len, "CONFIG x.n%d INT %d\n", k, round);
    cr_assert_eq(core_records_parse(recs, text, len, "f", &err), 0);
    cr_assert_eq(err.warnings, 100);
    free(text);
}

Test(core_records, wrong_type_keyword_is_an_error)
{
    cr_assert_eq(parse("CONFIG t.int STRING 5\n"), -EINVAL);
    cr_assert_eq(err.errors, 1);
    cr_assert_str_eq(entry(0), "records.config:1: t.int is declared INT, not STRING");
    cr_assert_not(core_records_is_set(recs, "t.int"));
}

Test(core_records, malformed_lines_are_errors)
{
    cr_assert_eq(parse("CONFIG\n"
                       "CONFIG t.int\n"
                       "CONFIG t.int INT\n"
                       "CONFIG t.int INT   \n"
                       "PROCESS t.int INT 1\n"
                       "CONFIG t.int COUNTER 1\n"
                       "CONFIG t.int int 1\n"),
                 -EINVAL);
    cr_assert_eq(err.errors, 7);
    cr_assert_str_eq(entry(0),
                     "records.config:1: too few fields (expected CONFIG name TYPE value)");
    cr_assert_str_eq(entry(3),
                     "records.config:4: too few fields (expected CONFIG name TYPE value)");
    cr_assert_str_eq(entry(4), "records.config:5: unknown record class 'PROCESS' (expected "
                               "CONFIG or LOCAL)");
    cr_assert_str_eq(entry(5),
                     "records.config:6: unknown type 'COUNTER' (expected INT, STRING or FLOAT)");
    cr_assert_str_eq(entry(6),
                     "records.config:7: unknown type 'int' (expected INT, STRING or FLOAT)");
}

Test(core_records, all_errors_of_a_file_reported_with_line_numbers)
{
    const char *text = "# header\n"                   // 1
                       "CONFIG t.int INT 1\n"         // 2
                       "CONFIG t.int INT x\n"         // 3
                       "\n"                           // 4
                       "CONFIG t.str INT 1\n"         // 5
                       "CONFIG x.unknown INT 1\n"     // 6
                       "garbage\n"                    // 7
                       "CONFIG t.float FLOAT 1.2.3\n" // 8
                       "CONFIG t.str STRING ok\n";    // 9
    cr_assert_eq(parse(text), -EINVAL);
    cr_assert_eq(err.errors, 4);
    cr_assert_eq(err.warnings, 1);
    int lines[] = {3, 5, 6, 7, 8};
    for (int k = 0; k < 5; k++)
        cr_assert_eq(err.entry[k].line, lines[k], "entry %d: %s", k, entry(k));
    cr_assert_str_eq(err.entry[0].file, "records.config");
    cr_assert_str_eq(entry(0), "records.config:3: t.int: bad INT value 'x'");
    // Valid lines were still applied.
    cr_assert_eq(core_records_get_int(recs, "t.int"), 1);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "ok");
}

Test(core_records, nul_byte_in_line_is_an_error)
{
    const char text[] = "CONFIG t.str STRING a\0b\nCONFIG t.int INT 3\n";
    cr_assert_eq(core_records_parse(recs, text, sizeof(text) - 1, "f", &err), -EINVAL);
    cr_assert_eq(err.errors, 1);
    cr_assert_eq(err.entry[0].line, 1);
    cr_assert_eq(core_records_get_int(recs, "t.int"), 3);
}

Test(core_records, parse_without_err_still_fails)
{
    const char *text = "CONFIG t.int INT bad\n";
    cr_assert_eq(core_records_parse(recs, text, strlen(text), NULL, NULL), -EINVAL);
}

Test(core_records, declare_rejects_duplicates_bad_defaults_and_names)
{
    cr_assert_eq(core_records_declare(recs, "t.int", CORE_REC_INT, "1"), -EEXIST);
    cr_assert_eq(core_records_declare(recs, "t.int", CORE_REC_STRING, "1"), -EEXIST);
    cr_assert_eq(core_records_declare(recs, "n.bad", CORE_REC_INT, "1x"), -EINVAL);
    cr_assert_eq(core_records_declare(recs, "n.bad", CORE_REC_INT, NULL), -EINVAL);
    cr_assert_eq(core_records_declare(recs, "n.bad", CORE_REC_FLOAT, "x"), -EINVAL);
    cr_assert_eq(core_records_declare(recs, "", CORE_REC_INT, "1"), -EINVAL);
    cr_assert_eq(core_records_declare(recs, "a b", CORE_REC_INT, "1"), -EINVAL);
    cr_assert_eq(core_records_declare(recs, "n.s", CORE_REC_STRING, NULL), 0);
    cr_assert_str_eq(core_records_get_str(recs, "n.s"), "");
    cr_assert_eq(core_records_declare(recs, "n.k", CORE_REC_INT, "64K"), 0);
    cr_assert_eq(core_records_get_int(recs, "n.k"), 65536);
}

Test(core_records, set_is_type_checked_and_marks_set)
{
    cr_assert_eq(core_records_set(recs, "t.int", "2M", &err), 0);
    cr_assert_eq(core_records_get_int(recs, "t.int"), 2 << 20);
    cr_assert(core_records_is_set(recs, "t.int"));
    cr_assert_eq(core_records_set(recs, "t.int", "two", &err), -EINVAL);
    cr_assert_eq(core_records_set(recs, "no.such", "1", &err), -ENOENT);
    cr_assert_eq(core_records_set(recs, "t.str", "a\nb", &err), -EINVAL);
    cr_assert_eq(err.errors, 3);
    cr_assert_str_eq(entry(0), "t.int: bad INT value 'two'");
    cr_assert_str_eq(entry(1), "unknown record name 'no.such'");
    cr_assert_eq(core_records_get_int(recs, "t.int"), 2 << 20);
    cr_assert_eq(core_records_set(recs, "t.str", " spaced out ", NULL), 0);
    cr_assert_str_eq(core_records_get_str(recs, "t.str"), "spaced out");
}

Test(core_records, dup_is_deep)
{
    cr_assert_eq(parse("CONFIG t.str STRING original\n"), 0);
    struct core_records *copy = core_records_dup(recs);
    cr_assert_not_null(copy);
    cr_assert_eq(core_records_set(recs, "t.str", "changed", NULL), 0);
    cr_assert_eq(core_records_set(recs, "t.int", "99", NULL), 0);
    cr_assert_str_eq(core_records_get_str(copy, "t.str"), "original");
    cr_assert_eq(core_records_get_int(copy, "t.int"), 10);
    cr_assert(core_records_is_set(copy, "t.str"));
    cr_assert_not(core_records_is_set(copy, "t.int"));
    cr_assert_eq(core_records_declare(copy, "c.only", CORE_REC_INT, "1"), 0);
    core_records_free(copy);
    core_records_free(NULL);
}

// write_text writes r into a heap buffer (caller frees).
static char *write_text(const struct core_records *r, size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    cr_assert_not_null(out);
    cr_assert_eq(core_records_write(r, out), 0);
    fclose(out);
    return buf;
}

Test(core_records, write_is_sorted_and_round_trips)
{
    cr_assert_eq(core_records_declare(recs, "a.first", CORE_REC_STRING, NULL), 0);
    cr_assert_eq(core_records_set(recs, "t.str", "with  spaces # and hash", NULL), 0);
    cr_assert_eq(core_records_set(recs, "t.float", "0.1", NULL), 0);
    cr_assert_eq(core_records_set(recs, "t.int", "-0x10", NULL), -EINVAL);
    cr_assert_eq(core_records_set(recs, "t.int", "-3G", NULL), 0);
    size_t len;
    char *text = write_text(recs, &len);
    cr_assert_str_eq(text, "CONFIG a.first STRING NULL\n"
                           "CONFIG t.float FLOAT 0.1\n"
                           "CONFIG t.int INT -3221225472\n"
                           "CONFIG t.str STRING with  spaces # and hash\n");

    struct core_records *back = core_records_new();
    cr_assert_eq(core_records_declare(back, "t.int", CORE_REC_INT, "0"), 0);
    cr_assert_eq(core_records_declare(back, "t.str", CORE_REC_STRING, "z"), 0);
    cr_assert_eq(core_records_declare(back, "t.float", CORE_REC_FLOAT, "0"), 0);
    cr_assert_eq(core_records_declare(back, "a.first", CORE_REC_STRING, "z"), 0);
    cr_assert_eq(core_records_parse(back, text, len, "w", &err), 0);
    cr_assert_eq(core_records_get_int(back, "t.int"), -3221225472LL);
    cr_assert_str_eq(core_records_get_str(back, "t.str"), "with  spaces # and hash");
    cr_assert(core_records_get_float(back, "t.float") == 0.1);
    cr_assert_str_eq(core_records_get_str(back, "a.first"), "");
    char *again = write_text(back, &len);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
    core_records_free(back);
}

Test(core_records, load_reads_a_file_and_reports_missing)
{
    char path[] = "/tmp/test_records_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "CONFIG t.int INT 8K\nCONFIG t.int FLOAT 1\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(core_records_load(recs, path, &err), -EINVAL);
    cr_assert_eq(core_records_get_int(recs, "t.int"), 8192);
    cr_assert_str_eq(err.entry[0].file, path);
    cr_assert_eq(err.entry[0].line, 2);
    unlink(path);
    core_err_init(&err);
    cr_assert_eq(core_records_load(recs, path, &err), -ENOENT);
    cr_assert_eq(err.errors + err.warnings, 0);
    cr_assert_lt(core_records_load(recs, "/", &err), 0);
    cr_assert_eq(err.errors, 1);
}

Test(core_records, get_with_wrong_type_aborts, .signal = SIGABRT)
{
    core_records_get_str(recs, "t.int");
}

Test(core_records, get_undeclared_aborts, .signal = SIGABRT)
{
    core_records_get_int(recs, "no.such");
}
