/* The coarse index of sorted request lists (sim_request_index.h): a start never past the first
 * entry above a request, and never more than a block before it. */
#include "mx_alloc.h"
#include "mx_rng.h"
#include "sim_request_index.h"

#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

enum { REQUESTS = 5000 };

Test(request_index, starts_within_a_block_before_the_first_entry_above)
{
    gsl_rng *rng = mx_rng_new(7, "test/index", 0);
    uint32_t *list = mx_malloc_array(REQUESTS, sizeof(uint32_t));
    struct request_index x = {0};
    const double shares[] = {0, 0.0005, 0.01, 0.1, 0.5, 1};
    for (size_t c = 0; c < sizeof(shares) / sizeof(shares[0]); c++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < REQUESTS; i++)
            if (gsl_rng_uniform(rng) < shares[c])
                list[n++] = i;
        sim__index_build(&x, list, n, REQUESTS); /* rebuilt in place over the last list's index */
        uint32_t want = 0;                       /* the first entry above `after`, by a scan */
        for (int64_t after = -1; after < REQUESTS; after++) {
            while (want < n && (int64_t)list[want] <= after)
                want++;
            uint32_t start = sim__index_start(&x, after);
            uint64_t block = (uint64_t)(after + 1) >> x.shift << x.shift;
            cr_assert_leq(start, want, "share %g, after %lld: start %u past the first entry %u",
                          shares[c], (long long)after, start, want);
            cr_assert(start == want || list[start] >= block,
                      "share %g, after %lld: start %u more than a block early", shares[c],
                      (long long)after, start);
        }
        /* Blocks hold about 16 entries: the index is small beside its list. */
        cr_assert_leq(x.n_blocks, n / 4 + 3, "share %g: %u blocks for %u entries", shares[c],
                      x.n_blocks, n);
    }
    sim__index_release(&x);
    free(list);
    gsl_rng_free(rng);
}

Test(request_index, an_unbuilt_index_starts_at_zero)
{
    struct request_index x = {0};
    cr_assert_eq(sim__index_start(&x, -1), 0);
    cr_assert_eq(sim__index_start(&x, REQUESTS), 0);
}
