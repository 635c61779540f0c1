/* Interference between a node's devices (spec_variability.h states the rule): the event engine's
 * tracker (sim_busy.h), forwards from work to end times, and the inverse for measured runs
 * (sim_interference.h). */
#include "sim_busy.h"
#include "sim_interference.h"

#include "mx_alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tracker ---- */

void sim__busy_init(struct sim__busy *b, const struct spec_interference *f, uint32_t n_stages,
                    uint32_t first, uint32_t end, const uint32_t *node, const uint32_t *devices)
{
    memset(b, 0, sizeof(*b));
    b->f = f;
    for (uint32_t s = first; s < end; s++)
        if (node[s] + 1 > b->n_nodes)
            b->n_nodes = node[s] + 1;
    b->busy = MX_NEW_ARRAY(uint32_t, b->n_nodes ? b->n_nodes : 1);
    b->node_begin = MX_NEW_ARRAY(uint32_t, (size_t)b->n_nodes + 1);
    b->node_stages = MX_NEW_ARRAY(uint32_t, end > first ? end - first : 1);
    b->stage = MX_NEW_ARRAY(struct sim__busy_stage, n_stages ? n_stages : 1);
    for (uint32_t s = first; s < end; s++)
        b->node_begin[node[s] + 1]++;
    for (uint32_t v = 0; v < b->n_nodes; v++)
        b->node_begin[v + 1] += b->node_begin[v];
    uint32_t *fill = MX_NEW_ARRAY(uint32_t, b->n_nodes ? b->n_nodes : 1);
    for (uint32_t s = first; s < end; s++) {
        b->node_stages[b->node_begin[node[s]] + fill[node[s]]++] = s;
        b->stage[s] = (struct sim__busy_stage){.node = node[s], .devices = devices[s]};
    }
    free(fill);
}

void sim__busy_release(struct sim__busy *b)
{
    free(b->busy);
    free(b->node_begin);
    free(b->node_stages);
    free(b->stage);
    memset(b, 0, sizeof(*b));
}

static double stretch(const struct sim__busy *b, const struct sim__busy_stage *st, uint32_t busy)
{
    return spec_interference_slowdown(b->f, busy) / spec_interference_slowdown(b->f, st->devices);
}

static mx_ns finish_at(const struct sim__busy_stage *st)
{
    return st->since_ns + llround(st->remaining_ns * st->stretch);
}

/* The node's busy count changed at now: bring the work running there (but `except`) up to date. */
static void restretch(struct sim__busy *b, uint32_t node, uint32_t except, mx_ns now,
                      sim__busy_moved moved, void *arg)
{
    for (uint32_t j = b->node_begin[node]; j < b->node_begin[node + 1]; j++) {
        uint32_t s = b->node_stages[j];
        struct sim__busy_stage *st = &b->stage[s];
        double next = stretch(b, st, b->busy[node]);
        if (s == except || !st->running || next == st->stretch)
            continue;
        double done = (double)(now - st->since_ns) / st->stretch;
        st->remaining_ns = st->remaining_ns > done ? st->remaining_ns - done : 0;
        st->since_ns = now;
        st->stretch = next;
        mx_ns finish = finish_at(st);
        if (finish != st->finish_ns) {
            st->finish_ns = finish;
            moved(arg, s, finish);
        }
    }
}

mx_ns sim__busy_start(struct sim__busy *b, uint32_t s, double work_ns, mx_ns now,
                      sim__busy_moved moved, void *arg)
{
    struct sim__busy_stage *st = &b->stage[s];
    b->busy[st->node] += st->devices;
    st->running = true;
    st->remaining_ns = work_ns;
    st->since_ns = now;
    st->stretch = stretch(b, st, b->busy[st->node]);
    st->finish_ns = finish_at(st);
    restretch(b, st->node, s, now, moved, arg);
    return st->finish_ns;
}

void sim__busy_stop(struct sim__busy *b, uint32_t s, mx_ns now, sim__busy_moved moved, void *arg)
{
    struct sim__busy_stage *st = &b->stage[s];
    st->running = false;
    b->busy[st->node] -= st->devices;
    restretch(b, st->node, s, now, moved, arg);
}

/* ---- the inverse: alone time of measured runs ---- */

/* A change of a node's busy count: +devices at a start, -devices at an end. */
struct edge {
    mx_ns t;
    uint32_t node;
    int32_t delta;
};

static int edge_order(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta); /* ends first */
}

/* The first of the sorted edges e[lo, hi) at (node, t) or after, in edge_order's order of node,
 * then time. */
static size_t edge_at(const struct edge *e, size_t lo, size_t hi, uint32_t node, mx_ns t)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].node < node || (e[mid].node == node && e[mid].t < t))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sim_interference_work(const struct spec_interference *f, const struct sim_span *spans,
                           size_t n, double *work_ns)
{
    if (n == 0)
        return;
    struct edge *e = mx_malloc_array(2 * n, sizeof(*e));
    double *g = mx_malloc_array(2 * n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        e[2 * i] = (struct edge){spans[i].start_ns, spans[i].node, (int32_t)spans[i].devices};
        e[2 * i + 1] = (struct edge){spans[i].end_ns, spans[i].node, -(int32_t)spans[i].devices};
    }
    qsort(e, 2 * n, sizeof(*e), edge_order);
    /* g[j]: the integral of 1 / slowdown(busy) over the node's time up to edge j. */
    int64_t busy = 0;
    for (size_t j = 0; j < 2 * n; j++) {
        if (j == 0 || e[j].node != e[j - 1].node) {
            busy = 0;
            g[j] = 0;
        } else {
            g[j] = g[j - 1] +
                   (double)(e[j].t - e[j - 1].t) / spec_interference_slowdown(f, (uint32_t)busy);
        }
        busy += e[j].delta;
    }
    for (size_t i = 0; i < n; i++) {
        /* The node's edges: [lo, end). */
        const uint32_t node = spans[i].node;
        size_t lo = edge_at(e, 0, 2 * n, node, INT64_MIN),
               end = edge_at(e, lo, 2 * n, node + 1, INT64_MIN);
        /* Every edge at one time has the same g (no time passes between them). */
        double from = g[edge_at(e, lo, end, node, spans[i].start_ns)];
        double to = g[edge_at(e, lo, end, node, spans[i].end_ns)];
        work_ns[i] = (to - from) * spec_interference_slowdown(f, spans[i].devices);
    }
    free(g);
    free(e);
}

void sim_interference_busy(const struct sim_span *spans, size_t n, double share, uint32_t *busy_out)
{
    if (n == 0)
        return;
    struct edge *e = mx_malloc_array(2 * n, sizeof(*e));
    uint32_t *busy = mx_malloc_array(2 * n, sizeof(uint32_t)); /* after each edge */
    for (size_t i = 0; i < n; i++) {
        e[2 * i] = (struct edge){spans[i].start_ns, spans[i].node, (int32_t)spans[i].devices};
        e[2 * i + 1] = (struct edge){spans[i].end_ns, spans[i].node, -(int32_t)spans[i].devices};
    }
    qsort(e, 2 * n, sizeof(*e), edge_order);
    int64_t count = 0;
    for (size_t j = 0; j < 2 * n; j++) {
        if (j == 0 || e[j].node != e[j - 1].node)
            count = 0;
        count += e[j].delta;
        busy[j] = (uint32_t)count;
    }
    for (size_t i = 0; i < n; i++) {
        const uint32_t node = spans[i].node;
        size_t lo = edge_at(e, 0, 2 * n, node, INT64_MIN),
               end = edge_at(e, lo, 2 * n, node + 1, INT64_MIN);
        mx_ns length = spans[i].end_ns - spans[i].start_ns;
        busy_out[i] = 0;
        if (length <= 0)
            continue;
        /* The pieces between the node's edges inside the span: the busy count after the last edge
         * at or before each piece's start. Ends come first at equal times, so the count after the
         * span's own start edge at its start time includes it. */
        size_t j = edge_at(e, lo, end, node, spans[i].start_ns);
        while (j + 1 < end && e[j + 1].t == spans[i].start_ns)
            j++;
        mx_ns t = spans[i].start_ns;
        for (; j < end && t < spans[i].end_ns; j++) {
            mx_ns next = j + 1 < end && e[j + 1].t < spans[i].end_ns ? e[j + 1].t : spans[i].end_ns;
            if ((double)(next - t) >= share * (double)length) {
                busy_out[i] = busy[j];
                break;
            }
            t = next;
        }
    }
    free(busy);
    free(e);
}
