/* Stage clocks corrected by real finishes (sim_correct.h). */
#include "sim_correct.h"

#include "mx_alloc.h"
#include "sim_control.h"

#include <math.h>
#include <stdlib.h>

static struct sim__pending *pending_at(const struct sim__pending_queue *q, uint32_t j)
{
    return &q->items[(q->head + j) % q->capacity];
}

static void pending_push(struct sim__pending_queue *q, struct sim__pending p)
{
    if (q->count == q->capacity) {
        uint32_t capacity = q->capacity ? 2 * q->capacity : 16;
        struct sim__pending *items = mx_malloc_array(capacity, sizeof(*items));
        for (uint32_t j = 0; j < q->count; j++)
            items[j] = *pending_at(q, j);
        free(q->items);
        *q = (struct sim__pending_queue){items, 0, q->count, capacity};
    }
    *pending_at(q, q->count++) = p;
}

/* Where id is in q (0: the head), or q->count if absent. */
static uint32_t pending_index(const struct sim__pending_queue *q, uint32_t id)
{
    uint32_t j = 0;
    while (j < q->count && pending_at(q, j)->id != id)
        j++;
    return j;
}

/* Take id out of q: the head in the usual case, anywhere after a failure. False if absent. */
static bool pending_remove(struct sim__pending_queue *q, uint32_t id)
{
    uint32_t j = pending_index(q, id);
    if (j == q->count)
        return false;
    if (j == 0) {
        q->head = (q->head + 1) % q->capacity;
    } else {
        for (uint32_t later = j; later + 1 < q->count; later++)
            *pending_at(q, later) = *pending_at(q, later + 1);
    }
    q->count--;
    return true;
}

/* The stage's clock from its pending entries, the first starting no earlier than free_ns. */
static mx_ns repredict(const struct sim__pending_queue *q, mx_ns free_ns)
{
    mx_ns t = free_ns;
    for (uint32_t j = 0; j < q->count; j++) {
        const struct sim__pending *p = pending_at(q, j);
        t = (p->input_ns > t ? p->input_ns : t) + p->latency_ns;
    }
    return t;
}

void sim__corrected_init(struct sim__corrected *c, uint32_t n_stages)
{
    size_t n = n_stages ? n_stages : 1;
    c->n_stages = n_stages;
    c->clock = MX_NEW_ARRAY(mx_ns, n);
    c->free_ns = MX_NEW_ARRAY(mx_ns, n);
    c->pending = MX_NEW_ARRAY(struct sim__pending_queue, n);
    c->ratio = mx_malloc_array(n, sizeof(double));
    for (uint32_t s = 0; s < n_stages; s++)
        c->ratio[s] = 1.0;
}

void sim__corrected_release(struct sim__corrected *c)
{
    for (uint32_t s = 0; s < c->n_stages; s++)
        free(c->pending[s].items);
    free(c->pending);
    free(c->clock);
    free(c->free_ns);
    free(c->ratio);
    *c = (struct sim__corrected){0};
}

void sim__corrected_start_at(struct sim__corrected *c, uint32_t s, mx_ns t)
{
    c->clock[s] = c->free_ns[s] = t;
}

void sim__corrected_scale(const struct sim__corrected *c, uint32_t base, const mx_ns *lat,
                          uint32_t n, mx_ns *out)
{
    for (uint32_t k = 0; k < n; k++) {
        mx_ns scaled = llround((double)lat[k] * c->ratio[base + k]);
        out[k] = scaled > 0 ? scaled : 1;
    }
}

void sim__corrected_admit(struct sim__corrected *c, uint32_t base, uint32_t n, uint32_t id,
                          mx_ns ready_ns, const mx_ns *f, const mx_ns *lat)
{
    for (uint32_t k = 0; k < n; k++) {
        c->clock[base + k] = f[k];
        pending_push(&c->pending[base + k],
                     (struct sim__pending){id, k == 0 ? ready_ns : f[k - 1], lat[k]});
    }
}

void sim__corrected_stage_done(struct sim__corrected *c, uint32_t s, uint32_t next, uint32_t id,
                               mx_ns actual_ns, mx_ns measured_ns, mx_ns world_ns)
{
    if (measured_ns >= 0 && world_ns > 0)
        c->ratio[s] +=
            SIM_CONTROL_SMOOTHING * ((double)measured_ns / (double)world_ns - c->ratio[s]);
    pending_remove(&c->pending[s], id);
    c->free_ns[s] = actual_ns;
    c->clock[s] = repredict(&c->pending[s], actual_ns);
    if (next == UINT32_MAX || measured_ns < 0)
        return;
    /* It reaches the next stage now, not when predicted. */
    struct sim__pending_queue *q = &c->pending[next];
    uint32_t j = pending_index(q, id);
    if (j < q->count) {
        pending_at(q, j)->input_ns = actual_ns;
        c->clock[next] = repredict(q, c->free_ns[next]);
    }
}

void sim__corrected_forget(struct sim__corrected *c, uint32_t base, uint32_t n, uint32_t id)
{
    for (uint32_t k = 0; k < n; k++)
        if (pending_remove(&c->pending[base + k], id))
            c->clock[base + k] = repredict(&c->pending[base + k], c->free_ns[base + k]);
}
