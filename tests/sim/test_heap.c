/* The event heap against qsort: same order, ties broken by kind then insertion order. */
#include "mx_rng.h"
#include "sim_heap.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static int compare_events(const void *a, const void *b)
{
    const struct sim_event *x = a, *y = b;
    return sim__event_before(x, y) ? -1 : sim__event_before(y, x) ? 1 : 0;
}

Test(heap, pops_in_time_kind_and_insertion_order)
{
    gsl_rng *rng = mx_rng_new(3, "test/heap", 0);
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + gsl_rng_uniform_int(rng, 2000);
        struct sim_heap h;
        sim__heap_init(&h, n);
        struct sim_event *pushed = calloc(n, sizeof(*pushed));
        for (size_t i = 0; i < n; i++) {
            /* Few distinct times and kinds, so ties are common. */
            struct sim_event ev = {.time = (mx_ns)gsl_rng_uniform_int(rng, 20),
                                   .kind = (uint8_t)gsl_rng_uniform_int(rng, 3),
                                   .id = (uint32_t)i};
            sim__heap_push(&h, ev);
            pushed[i] = ev;
            pushed[i].order = (uint64_t)ev.kind << 56 | i;
        }
        qsort(pushed, n, sizeof(*pushed), compare_events);
        for (size_t i = 0; i < n; i++) {
            struct sim_event ev = sim__heap_pop(&h);
            cr_assert_eq(ev.id, pushed[i].id, "round %d pop %zu", round, i);
        }
        cr_assert_eq(h.n, 0);
        free(pushed);
        sim__heap_release(&h);
    }
    gsl_rng_free(rng);
}

Test(heap, interleaved_pushes_and_pops_stay_ordered)
{
    struct sim_heap h;
    sim__heap_init(&h, 64);
    mx_ns last = -1;
    uint64_t last_order = 0;
    for (int i = 0; i < 1000; i++) {
        if (h.n < 64 && (h.n == 0 || i % 3 != 2)) {
            sim__heap_push(&h, (struct sim_event){.time = last + 1 + (i * 7919) % 13, .kind = 1});
        } else {
            struct sim_event ev = sim__heap_pop(&h);
            cr_assert(ev.time > last || (ev.time == last && ev.order > last_order));
            last = ev.time;
            last_order = ev.order;
        }
    }
    sim__heap_release(&h);
}
