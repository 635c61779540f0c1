/* The coarse index of sorted request lists (sim_request_index.h). */
#include "sim_request_index.h"

#include "mx_alloc.h"

#include <stdlib.h>

/* Entries per block: few enough that a search from a block's start stays in a cache line or two,
 * many enough that the index is small beside its list. */
#define ENTRIES_PER_BLOCK 16

void sim__index_build(struct request_index *x, const uint32_t *list, uint32_t n, uint32_t requests)
{
    uint32_t shift = 0;
    while (shift < 31 && ((uint64_t)n << shift) < (uint64_t)requests * ENTRIES_PER_BLOCK / 2)
        shift++;
    uint32_t n_blocks = ((requests - 1) >> shift) + 2; /* through the last request, and past it */
    if (n_blocks > x->cap) {
        x->cap = n_blocks;
        x->first = mx_realloc_array(x->first, n_blocks, sizeof(uint32_t));
    }
    x->shift = shift;
    x->n_blocks = n_blocks;
    uint32_t at = 0;
    for (uint32_t b = 0; b < n_blocks; b++) {
        uint64_t block_start = (uint64_t)b << shift;
        while (at < n && list[at] < block_start)
            at++;
        x->first[b] = at;
    }
}

void sim__index_release(struct request_index *x)
{
    free(x->first);
    *x = (struct request_index){0};
}
