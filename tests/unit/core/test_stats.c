// SPDX-License-Identifier: Apache-2.0
// Unit tests for core/stats.c: registration, per-thread counting, sums across threads.
#include "core/stats.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static int id_hits;

static void *counter_thread(void *arg)
{
    core_stats_thread_attach();
    for (int i = 0; i < 100000; i++)
        core_stat_inc(id_hits);
    core_stat_add(id_hits, -5);
    return NULL;
}

Test(core_stats, sums_every_thread_including_unattached_ones, .timeout = 20)
{
    id_hits = core_stat_register("proxy.process.test.hits");
    cr_assert_geq(id_hits, 0);
    cr_assert_eq(core_stat_register("proxy.process.test.hits"), id_hits, "idempotent");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, counter_thread, NULL);
    for (int i = 0; i < 1000; i++)
        core_stat_inc(id_hits); // this thread never attached: the shared block
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(core_stat_sum(id_hits), 4 * (100000 - 5) + 1000);
    cr_assert_str_eq(core_stat_name(id_hits), "proxy.process.test.hits");
    cr_assert_eq(core_stat_find("proxy.process.test.hits"), id_hits);
    cr_assert_eq(core_stat_find("nope"), -ENOENT);
}

Test(core_stats, gauges_are_marked)
{
    int c = core_stat_register("proxy.process.test.counted");
    int g = core_stat_register_gauge("proxy.process.test.current");
    cr_assert_geq(c, 0);
    cr_assert_geq(g, 0);
    cr_assert_not(core_stat_is_gauge(c));
    cr_assert(core_stat_is_gauge(g));
    cr_assert_eq(core_stat_register("proxy.process.test.current"), g, "same id, still a gauge");
    cr_assert(core_stat_is_gauge(g));
    core_stat_add(g, 3);
    core_stat_add(g, -2);
    cr_assert_eq(core_stat_sum(g), 1);
    cr_assert_not(core_stat_is_gauge(-1));
    cr_assert_not(core_stat_is_gauge(CORE_STATS_MAX));
}

Test(core_stats, bad_ids_are_ignored)
{
    core_stat_add(-1, 5);
    core_stat_add(CORE_STATS_MAX, 5);
    cr_assert_eq(core_stat_sum(-1), 0);
    cr_assert_null(core_stat_name(-1));
}

Test(core_stats, registry_is_bounded)
{
    char name[64];
    int last = 0;
    for (int i = 0; i < CORE_STATS_MAX + 1; i++) {
        snprintf(name, sizeof(name), "proxy.process.test.n%d", i);
        last = core_stat_register(name);
    }
    cr_assert_eq(last, -ENOSPC);
    cr_assert_eq(core_stat_count(), CORE_STATS_MAX);
}
