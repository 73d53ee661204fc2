/*
 * tests/unit/lsan.c: where LeakSanitizer looks in the unit-test binary (SAN=address builds).
 *
 * Criterion runs every test in a sandboxed process that BoxFort starts with BXFI_MAP in its
 * environment; the runner process that starts them runs none of tlsedge's code. BoxFort 0.1.2
 * (statically inside Debian's libcriterion3) now and then loses one of its 48-byte timeout
 * requests in the runner (its timeout thread and the reaper race when tests with a .timeout end
 * side by side), and LeakSanitizer reports it when the runner exits: seen once in CI, after all
 * 457 tests had passed. So leak checking is off in the runner and stays on in every test process
 * and everything a test forks; `make unit` under SAN proves the latter with the lsan/probe test
 * (TLSEDGE_LSAN_PROBE=1 must produce a report).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/* LeakSanitizer calls this at exit, when the symbol is there; non-zero skips the leak check. */
__attribute__((visibility("default"))) int __lsan_is_turned_off(void);

int __lsan_is_turned_off(void)
{
    return getenv("BXFI_MAP") == NULL;
}

/* Leaks one allocation when TLSEDGE_LSAN_PROBE=1, and does nothing otherwise. */
Test(lsan, probe)
{
    const char *probe = getenv("TLSEDGE_LSAN_PROBE");

    if (probe != NULL && strcmp(probe, "1") == 0) {
        static char *volatile lost;
        lost = malloc(24);
        cr_assert_not_null(lost);
        lost = NULL;
    }
}
