/* src/workload trace statistics of token counts: each side's distribution per model and overall
 * against hand-computed values, tokens per second window by window, and the length histogram. */
#include "fixture.h"
#include "wl_stats.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

/* Ten requests over 10 s: model 0 at 0.5, 1.5, ..., 5.5 s with inputs 1..6 and outputs 100;
 * model 1 at 6.5 .. 9.5 s with inputs 10, 20, 30, 40 and outputs 1. */
static struct wl_trace *token_trace(void)
{
    double arrival[10];
    int32_t model[10];
    double slo[10];
    for (int i = 0; i < 10; i++) {
        arrival[i] = i + 0.5;
        model[i] = i < 6 ? 0 : 1;
        slo[i] = 1;
    }
    struct wl_trace *t = fx_trace(10, arrival, model, slo, 2);
    t->start_s = 0;
    t->duration_s = 10;
    wl_trace_add_tokens(t);
    for (int i = 0; i < 10; i++) {
        t->input_tokens[i] = i < 6 ? i + 1 : 10 * (i - 5);
        t->output_tokens[i] = i < 6 ? 100 : 1;
    }
    return t;
}

Test(token_stats, distributions_per_model_and_overall)
{
    struct wl_trace *t = token_trace();
    struct wl_trace_stats s;
    wl_trace_stats_compute(t, &s);
    cr_assert(s.tokens);
    /* Model 0's inputs 1..6: mean 3.5, nearest-rank p50 the 3rd, p90 and p99 the 6th. */
    const struct wl_token_summary *in0 = &s.models[0].input;
    cr_assert_float_eq(in0->mean, 3.5, 1e-12);
    cr_assert(in0->p50 == 3 && in0->p90 == 6 && in0->p99 == 6 && in0->max == 6);
    cr_assert_float_eq(in0->per_s, 21 / 10.0, 1e-12);
    const struct wl_token_summary *in1 = &s.models[1].input;
    cr_assert(in1->p50 == 20 && in1->max == 40);
    cr_assert_float_eq(in1->mean, 25, 1e-12);
    /* Overall inputs 1..6, 10..40: the 5th of ten is 5, the 9th is 30. */
    cr_assert(s.total.input.p50 == 5 && s.total.input.p90 == 30 && s.total.input.max == 40);
    cr_assert_float_eq(s.total.output.per_s, 604 / 10.0, 1e-12);
    cr_assert(s.models[1].output.mean == 1 && s.models[0].output.p99 == 100);

    /* 10 s in windows of at most 50: 200 ms windows, the requests in windows 2, 7, ... */
    const struct wl_token_rate *r = &s.token_rate;
    cr_assert_float_eq(r->window_s, 0.2, 1e-12);
    cr_assert_eq(r->n, 50);
    cr_assert_float_eq(r->input_per_s[2], 1 / 0.2, 1e-9);
    cr_assert_float_eq(r->output_per_s[2], 100 / 0.2, 1e-9);
    cr_assert_eq(r->input_per_s[3], 0);
    cr_assert_float_eq(r->input_per_s[47], 40 / 0.2, 1e-9);
    wl_trace_stats_release(&s);
    wl_trace_free(t);

    /* No token figures for a trace without tokens. */
    t = fx_trace(2, (double[]){0, 1}, (int32_t[]){0, 0}, (double[]){1, 1}, 1);
    wl_trace_stats_compute(t, &s);
    cr_assert_not(s.tokens);
    cr_assert_eq(s.token_rate.n, 0);
    wl_trace_stats_release(&s);
    wl_trace_free(t);
}

Test(token_stats, token_rate_cuts_the_last_window_at_the_end)
{
    struct wl_trace *t = token_trace();
    t->duration_s = 9.7; /* windows of 200 ms: the 49th holds 0.1 s of the trace, the 48th all */
    struct wl_token_rate r;
    wl_token_rate_compute(t, 50, &r);
    cr_assert_eq(r.n, 49);
    cr_assert_float_eq(r.input_per_s[47], 40 / 0.2, 1e-9);
    wl_token_rate_release(&r);
    t->duration_s = 9.65;
    wl_token_rate_compute(t, 50, &r);
    cr_assert_eq(r.n, 49);
    cr_assert_float_eq(r.input_per_s[47], 40 / 0.2, 1e-9);
    wl_token_rate_release(&r);
    t->duration_s = 9.55;
    wl_token_rate_compute(t, 50, &r);
    cr_assert_eq(r.n, 48);
    cr_assert_float_eq(r.input_per_s[47], 40 / 0.15, 1e-9, "over the 150 ms inside");
    wl_token_rate_release(&r);
    wl_trace_free(t);
}

Test(token_stats, histogram_of_quarter_octaves)
{
    struct wl_trace *t = token_trace();
    struct wl_token_histogram h;
    wl_token_histogram_compute(t, &h);
    /* Edges ceil(2^(j/4)) without repeats, up to the first past the largest count, 100. */
    static const double edges[] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 12, 14, 16,
                                   20, 23, 27, 32, 39, 46, 54, 64, 77, 91, 108};
    cr_assert_eq(h.n, sizeof(edges) / sizeof(edges[0]) - 1);
    for (size_t k = 0; k <= h.n; k++)
        cr_assert_eq(h.lower[k], edges[k], "edge %zu", k);
    cr_assert_float_eq(h.input_share[0], 0.1, 1e-12, "input 1");
    cr_assert_float_eq(h.input_share[8], 0.1, 1e-12, "input 10 in [10, 12)");
    cr_assert_float_eq(h.input_share[14], 0.1, 1e-12, "input 30 in [27, 32)");
    cr_assert_float_eq(h.input_share[16], 0.1, 1e-12, "input 40 in [39, 46)");
    cr_assert_eq(h.input_share[15], 0);
    cr_assert_float_eq(h.output_share[0], 0.4, 1e-12);
    cr_assert_float_eq(h.output_share[21], 0.6, 1e-12, "100 in [91, 108)");
    double total = 0;
    for (size_t k = 0; k < h.n; k++)
        total += h.input_share[k];
    cr_assert_float_eq(total, 1, 1e-12);
    wl_token_histogram_release(&h);
    wl_trace_free(t);
}
