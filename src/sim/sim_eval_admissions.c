/* A group's admissions in the baseline (sim_eval_int.h): appended to by a recording run, edited in
 * place after an incremental one.
 *
 * An incremental run moves a few requests in or out of a long list, and its first edit is often
 * early in it, so rebuilding the list would copy most of it each time. In place, the entries
 * between two edits move as a block by the count of requests that joined minus those that left
 * before it, and a block that nets zero does not move at all. Blocks moving left go first to last,
 * a run of blocks moving right last to first, so that none is overwritten before it has moved:
 * next to each other, shifts differ by one and a request that left makes the gap that a shift of
 * one needs. Joined requests go in last, at places no block lands on. */
#include "sim_eval_int.h"

#include "mx_alloc.h"

#include <string.h>

void sim__admissions_push(struct admissions *l, uint32_t request)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->request = mx_realloc_array(l->request, l->cap, sizeof(uint32_t));
    }
    l->request[l->n++] = request;
}

/* Entries [from, to) of the list move by shift. */
struct admissions_block {
    uint32_t from, to;
    int32_t shift;
};

static void move_block(uint32_t *list, const struct admissions_block *k)
{
    if (k->shift != 0 && k->to > k->from)
        memmove(list + (int64_t)k->from + k->shift, list + k->from,
                (k->to - k->from) * sizeof(uint32_t));
}

void sim__admissions_edit(struct admissions *l, uint32_t key, const struct admission_edit *edits,
                          uint32_t n, struct admissions_scratch *scratch)
{
    if (n + 1 > scratch->cap) {
        scratch->cap = 2 * (n + 1);
        scratch->blocks =
            mx_realloc_array(scratch->blocks, scratch->cap, sizeof(struct admissions_block));
    }
    struct admissions_block *blocks = scratch->blocks;
    uint32_t joined = 0;
    for (uint32_t d = 0; d < n; d++)
        joined += edits[d].insert;
    if (l->n + joined > l->cap) {
        l->cap = l->n + joined + (l->n + joined) / 4;
        l->request = mx_realloc_array(l->request, l->cap, sizeof(uint32_t));
    }
    /* The block before each edit, and the last. */
    uint32_t at = 0;
    int32_t shift = 0;
    for (uint32_t d = 0; d < n; d++) {
        const uint32_t request = edits[d].request;
        const uint32_t p = sim__gallop_above(l->request, at, l->n, (int64_t)request - 1);
        blocks[d] = (struct admissions_block){at, p, shift};
        if (edits[d].insert) {
            shift++;
            at = p;
        } else if (p < l->n && l->request[p] == request) {
            shift--;
            at = p + 1;
        } else {
            MX_BUG("request %u left group key %u, which had not admitted it", request, key);
        }
    }
    blocks[n] = (struct admissions_block){at, l->n, shift};
    for (uint32_t k = 0; k <= n;) {
        if (blocks[k].shift <= 0) {
            move_block(l->request, &blocks[k++]);
            continue;
        }
        uint32_t end = k;
        while (end <= n && blocks[end].shift > 0)
            end++;
        for (uint32_t j = end; j > k; j--)
            move_block(l->request, &blocks[j - 1]);
        k = end;
    }
    /* A joining request lands after the block before it, moved. */
    for (uint32_t d = 0; d < n; d++)
        if (edits[d].insert)
            l->request[(int64_t)blocks[d].to + blocks[d].shift] = edits[d].request;
    l->n = l->n + joined - (n - joined);
}
