/* Dispatch policies keep the promises their table entries make, which the engines rely on: a
 * policy that claims to rank by last stage clocks (the incremental evaluator skips groups whose
 * clocks did not change for it) returns the first replica whose last stage clock is least, on
 * random views with ties; one that never refuses returns a replica. */
#include "mx_rng.h"
#include "sim_dispatch.h"
#include "sim_int.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>

enum { GROUPS = 6, STAGES = 3 };

Test(dispatch, policies_keep_their_promises)
{
    gsl_rng *rng = mx_rng_new(7, "test/dispatch", 0);
    struct sim_group groups[GROUPS];
    struct sim_replica reps[GROUPS];
    mx_ns clock[GROUPS * STAGES], lat[STAGES] = {5, 7, 3};
    uint32_t outstanding[GROUPS];
    for (uint32_t g = 0; g < GROUPS; g++) {
        groups[g] =
            (struct sim_group){.id = (int32_t)g, .n_stages = STAGES, .stage_base = g * STAGES};
        reps[g] = (struct sim_replica){.group = g,
                                       .stage_base = g * STAGES,
                                       .last_stage = g * STAGES + STAGES - 1,
                                       .n_stages = STAGES,
                                       .n_batches = 1,
                                       .latency_ns = lat,
                                       .sum_ns = 15,
                                       .max_ns = 7};
    }
    for (const struct sim_dispatch_policy *const *p = sim_dispatch_policies; *p; p++)
        for (int trial = 0; trial < 2000; trial++) {
            uint32_t n = 1 + (uint32_t)gsl_rng_uniform_int(rng, GROUPS);
            for (uint32_t s = 0; s < GROUPS * STAGES; s++)
                clock[s] = (mx_ns)gsl_rng_uniform_int(rng, 8); /* few values: many ties */
            for (uint32_t g = 0; g < GROUPS; g++)
                outstanding[g] = (uint32_t)gsl_rng_uniform_int(rng, 4);
            const struct sim_view view = {groups, clock, outstanding};
            const struct sim_dispatch_query q = {(mx_ns)gsl_rng_uniform_int(rng, 8),
                                                 (mx_ns)gsl_rng_uniform_int(rng, 40)};
            int32_t chosen = (*p)->choose(&view, reps, n, &q);
            cr_assert(chosen >= -1 && chosen < (int32_t)n, "%s: chose %d of %u", (*p)->name, chosen,
                      n);
            if (!(*p)->may_refuse)
                cr_assert_geq(chosen, 0, "%s refused although it may not", (*p)->name);
            if (!(*p)->ranks_by_last_clock)
                continue;
            uint32_t first = 0;
            for (uint32_t r = 1; r < n; r++)
                if (clock[reps[r].last_stage] < clock[reps[first].last_stage])
                    first = r;
            cr_assert_eq(chosen, (int32_t)first, "%s: chose %d, the first earliest is %u",
                         (*p)->name, chosen, first);
        }
    gsl_rng_free(rng);
}
