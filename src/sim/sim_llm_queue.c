/* Priority-ordered lists of request indices (sim_llm_int.h): a request's index is its priority,
 * so keeping lists sorted by index keeps them first come, first served. */
#include "sim_llm_int.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

void sim_llm__insert_sorted(uint32_t *list, uint32_t n, uint32_t i)
{
    uint32_t k = n;
    while (k > 0 && list[k - 1] > i)
        k--;
    memmove(list + k + 1, list + k, (n - k) * sizeof(uint32_t));
    list[k] = i;
}

void sim_llm__queue_push(struct llm_queue *q, uint32_t i)
{
    if (q->head + q->len == q->cap) {
        if (q->head > q->cap / 2) {
            memmove(q->slot, q->slot + q->head, q->len * sizeof(uint32_t));
            q->head = 0;
        } else {
            q->cap = q->cap ? 2 * q->cap : 16;
            q->slot = mx_realloc_array(q->slot, q->cap, sizeof(uint32_t));
        }
    }
    sim_llm__insert_sorted(q->slot + q->head, q->len, i);
    q->len++;
}

void sim_llm__queue_release(struct llm_queue *q)
{
    free(q->slot);
    memset(q, 0, sizeof(*q));
}
