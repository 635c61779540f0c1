/* Replays (sim_replay.h): the runtime's controller over simulated stages. Given the profile's own
 * latencies as service times, a replay is the simulator: the same outcome for every request as the
 * fast path, on random cases. Given other service times, it still ends every request once and
 * runs each stage first-come first-served. */
#include "fixture.h"
#include "mx_error.h"
#include "random_case.h"
#include "sim_dispatch.h"
#include "sim_replay.h"

#include <criterion/criterion.h>

static mx_ns world_time(void *arg, size_t i, uint32_t g, uint32_t k, mx_ns world_ns)
{
    (void)arg, (void)i, (void)g, (void)k;
    return world_ns;
}

Test(replay, on_the_profile_it_is_the_simulator)
{
    const struct sim_service exact = {world_time, NULL};
    size_t compared = 0;
    for (uint64_t seed = 1; seed <= 600; seed++) {
        struct random_case rc = random_case(seed, (struct case_shape){.loading = seed % 2 == 0});
        struct sim_world *w = NULL;
        rc.o.engine = SIM_ENGINE_FAST;
        struct sim_results *fast = fx_run(&rc.c, rc.db, rc.p, rc.t, &rc.o, &w);
        struct sim_results *replay = NULL;
        cr_assert_eq(sim_replay(w, rc.o.dispatch, NULL, &exact, &replay), MX_OK, "%s",
                     mx_error_message());
        for (size_t i = 0; i < fast->n; i++) {
            cr_assert_eq(replay->group[i], fast->group[i], "case %llu (%s) request %zu: group",
                         (unsigned long long)seed, rc.o.dispatch->name, i);
            cr_assert_eq(replay->status[i], fast->status[i], "case %llu (%s) request %zu: status",
                         (unsigned long long)seed, rc.o.dispatch->name, i);
            cr_assert_eq(replay->finish_ns[i], fast->finish_ns[i],
                         "case %llu (%s) request %zu: finish", (unsigned long long)seed,
                         rc.o.dispatch->name, i);
            cr_assert_eq(replay->start_ns[i], fast->start_ns[i],
                         "case %llu (%s) request %zu: start", (unsigned long long)seed,
                         rc.o.dispatch->name, i);
        }
        compared += fast->n;
        sim_results_free(replay);
        sim_results_free(fast);
        sim_world_free(w);
        random_case_free(&rc);
    }
    cr_assert_gt(compared, 20000);
}
