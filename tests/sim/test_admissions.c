/* A group's admissions edited in place (sim_eval_admissions.c): after any batch of requests
 * joining and leaving, the list holds exactly its members in order, whatever the mix of blocks
 * moving left, right or not at all. */
#include "mx_alloc.h"
#include "mx_rng.h"
#include "sim_eval_int.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

enum { REQUESTS = 3000 };

static void assert_lists(const struct admissions *l, const bool *member, const char *what,
                         int round)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < REQUESTS; i++) {
        if (!member[i])
            continue;
        cr_assert_lt(n, l->n, "%s round %d: request %u missing", what, round, i);
        cr_assert_eq(l->request[n], i, "%s round %d: entry %u is %u, not %u", what, round, n,
                     l->request[n], i);
        n++;
    }
    cr_assert_eq(l->n, n, "%s round %d: %u entries, %u members", what, round, l->n, n);
}

Test(admissions, edits_in_place_keep_exactly_the_members_in_order)
{
    gsl_rng *rng = mx_rng_new(11, "test/admissions", 0);
    struct admissions_scratch scratch = {0};
    struct admission_edit *edits = mx_malloc_array(REQUESTS, sizeof(*edits));
    /* Batches that join mostly, leave mostly, or both; spread out or in one stretch. */
    const double joins[] = {0.9, 0.1, 0.5, 0.5};
    for (size_t c = 0; c < sizeof(joins) / sizeof(joins[0]); c++) {
        bool member[REQUESTS] = {false};
        struct admissions l = {0};
        for (uint32_t i = 0; i < REQUESTS; i++)
            if (gsl_rng_uniform(rng) < 0.3) {
                member[i] = true;
                sim__admissions_push(&l, i);
            }
        for (int round = 0; round < 200; round++) {
            const uint32_t span = c == 3 ? 60 : REQUESTS;
            const uint32_t first = (uint32_t)gsl_rng_uniform_int(rng, REQUESTS - span + 1);
            const double rate = gsl_rng_uniform(rng) * 0.2;
            uint32_t n = 0;
            for (uint32_t i = first; i < first + span; i++) {
                if (gsl_rng_uniform(rng) >= rate)
                    continue;
                const bool join = gsl_rng_uniform(rng) < joins[c];
                if (join == member[i])
                    continue;
                member[i] = join;
                edits[n++] = (struct admission_edit){i, join};
            }
            sim__admissions_edit(&l, 0, edits, n, &scratch);
            assert_lists(&l, member, c == 3 ? "one stretch" : "spread", round);
        }
        free(l.request);
    }
    free(edits);
    free(scratch.blocks);
    gsl_rng_free(rng);
}

/* By hand: shifts +1, +2, +1, 0, -1, 0, +1 from left to right, into a list with no spare room. */
Test(admissions, blocks_moving_both_ways)
{
    uint32_t start[] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    struct admissions l = {mx_malloc_array(9, sizeof(uint32_t)), 9, 9};
    memcpy(l.request, start, sizeof(start));
    const struct admission_edit edits[] = {{15, true},  {25, true}, {30, false}, {40, false},
                                           {50, false}, {65, true}, {75, true}};
    struct admissions_scratch scratch = {0};
    sim__admissions_edit(&l, 0, edits, 7, &scratch);
    const uint32_t want[] = {10, 15, 20, 25, 60, 65, 70, 75, 80, 90};
    cr_assert_eq(l.n, 10);
    for (uint32_t k = 0; k < 10; k++)
        cr_assert_eq(l.request[k], want[k], "entry %u: %u, not %u", k, l.request[k], want[k]);
    free(l.request);
    free(scratch.blocks);
}
