/* A coarse index over a sorted list of request numbers (a group's request stream, in the
 * planner's incremental evaluator): where to start looking for the first entry above a request,
 * so that a search lands within a few entries of it instead of galloping from afar through
 * memory that is not in cache. Internal to src/sim. */
#ifndef SIM_REQUEST_INDEX_H
#define SIM_REQUEST_INDEX_H

#include <stdint.h>

struct request_index {
    /* first[b]: how many entries are below request b << shift, for b up to the trace's last
     * request >> shift, plus one; blocks hold about 16 entries. Owned. */
    uint32_t *first;
    uint32_t n_blocks, cap, shift;
};

/* Index the n sorted entries of list, requests of a trace of `requests` (> 0) requests. */
void sim__index_build(struct request_index *x, const uint32_t *list, uint32_t n, uint32_t requests);

void sim__index_release(struct request_index *x);

/* An entry of the list no later than its first entry above request `after` (-1: before every
 * request); 0 for a list never indexed. */
static inline uint32_t sim__index_start(const struct request_index *x, int64_t after)
{
    return x->n_blocks ? x->first[(uint64_t)(after + 1) >> x->shift] : 0;
}

#endif
