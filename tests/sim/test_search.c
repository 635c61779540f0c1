/* The searches of sorted request lists (sim_eval_int.h): from any start at or before the answer,
 * and from any guess past that start, both find the first entry above a request. */
#include "mx_alloc.h"
#include "mx_rng.h"
#include "sim_eval_int.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

enum { REQUESTS = 300 };

Test(search, gallops_find_the_first_entry_above_from_any_start_and_guess)
{
    gsl_rng *rng = mx_rng_new(5, "test/search", 0);
    uint32_t *list = mx_malloc_array(REQUESTS, sizeof(uint32_t));
    const double shares[] = {0.01, 0.1, 0.3, 1};
    for (size_t c = 0; c < sizeof(shares) / sizeof(shares[0]); c++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < REQUESTS; i++)
            if (gsl_rng_uniform(rng) < shares[c])
                list[n++] = i;
        uint32_t want = 0; /* the first entry above `after`, by a scan */
        for (int64_t after = -1; after <= REQUESTS; after++) {
            while (want < n && (int64_t)list[want] <= after)
                want++;
            for (uint32_t lo = 0; lo <= want; lo++) {
                uint32_t got = sim__gallop_above(list, lo, n, after);
                if (got != want)
                    cr_assert_fail("share %g, after %lld, from %u: %u, not %u", shares[c],
                                   (long long)after, lo, got, want);
                for (uint32_t guess = lo; guess < n; guess++) {
                    got = sim__gallop_above_near(list, lo, n, after, guess);
                    if (got != want)
                        cr_assert_fail("share %g, after %lld, from %u, guess %u: %u, not %u",
                                       shares[c], (long long)after, lo, guess, got, want);
                }
            }
        }
    }
    free(list);
    gsl_rng_free(rng);
}
