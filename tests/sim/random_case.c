/* Random simulation cases for property tests. */
#include "random_case.h"

#include "mx_alloc.h"
#include "mx_rng.h"
#include "sim_dispatch.h"

#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

static const char *const base_names[2] = {"b0", "b1"};

/* Add random groups to the plan's last segment and the configs they need to the profile. */
static void random_groups(gsl_rng *rng, struct random_case *rc, struct case_shape shape,
                          uint32_t *devices)
{
    uint32_t n_groups =
        1 + (uint32_t)gsl_rng_uniform_int(rng, shape.wide ? RANDOM_CASE_MAX_GROUPS : 4);
    uint32_t first = 0;
    for (uint32_t g = 0; g < n_groups; g++) {
        int pp = 1 + (int)gsl_rng_uniform_int(rng, shape.wide ? 8 : 4);
        int op = 1 + (int)gsl_rng_uniform_int(rng, 2);
        uint32_t models[RANDOM_CASE_MAX_MODELS], n = 0;
        for (uint32_t m = 0; m < rc->p->n_models; m++)
            if (gsl_rng_uniform(rng) < 0.6)
                models[n++] = m;
        for (int b = 0; b < 2; b++) {
            if (spec_profile_find(rc->db, base_names[b], 1, op, pp))
                continue;
            int32_t batch[3] = {1, 2, 4};
            double lat[3 * 8];
            for (int k = 0; k < pp; k++) {
                double l = 0.005 + 0.2 * gsl_rng_uniform(rng);
                lat[k] = l;
                lat[pp + k] = 1.5 * l;
                lat[2 * pp + k] = 2.2 * l;
            }
            fx_profile_add_batches(rc->db, base_names[b], op, pp, shape.batching ? 3 : 1, batch,
                                   lat, 1);
        }
        fx_plan_add_group(rc->p, op, pp, first, n, models);
        if (shape.loading && gsl_rng_uniform(rng) < 0.4) {
            struct spec_plan_segment *s = &rc->p->segments[rc->p->n_segments - 1];
            s->groups[s->n_groups - 1].load_s = gsl_rng_uniform(rng);
        }
        first += (uint32_t)(op * pp);
    }
    if (first > *devices)
        *devices = first;
}

struct random_case random_case(uint64_t seed, struct case_shape shape)
{
    struct random_case rc;
    gsl_rng *rng = mx_rng_new(seed, "test/random-case", 0);
    uint32_t n_models =
        1 + (uint32_t)gsl_rng_uniform_int(rng, shape.wide ? RANDOM_CASE_MAX_MODELS : 5);
    const char *bases[RANDOM_CASE_MAX_MODELS];
    for (uint32_t m = 0; m < n_models; m++)
        bases[m] = base_names[shape.one_base ? 0 : gsl_rng_uniform_int(rng, 2)];
    rc.db = spec_profile_new("random");
    rc.p = fx_plan_new(n_models, bases);
    uint32_t devices = 0;
    random_groups(rng, &rc, shape, &devices);

    size_t n =
        shape.wide ? 2000 + gsl_rng_uniform_int(rng, 2001) : 20 + gsl_rng_uniform_int(rng, 180);
    double *arrival = MX_NEW_ARRAY(double, n), *slo = MX_NEW_ARRAY(double, n);
    int32_t *model = MX_NEW_ARRAY(int32_t, n);
    double rate = 2 + 60 * gsl_rng_uniform(rng), cv = 0.3 + 4 * gsl_rng_uniform(rng);
    if (shape.wide) /* about the load per group of the narrow cases */
        rate *= rc.p->segments[0].n_groups / 2.0;
    bool quantize = gsl_rng_uniform(rng) < 0.5;
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        if (gsl_rng_uniform(rng) >= 0.15)
            t += gsl_ran_gamma(rng, 1 / (cv * cv), cv * cv / rate);
        arrival[i] = quantize ? floor(t * 100) / 100 : t; /* quantized: many equal times */
        model[i] = (int32_t)gsl_rng_uniform_int(rng, n_models);
        slo[i] = 0.02 + (shape.wide ? 2 : 1) * gsl_rng_uniform(rng); /* wide: deeper pipelines */
    }
    if (shape.schedule && gsl_rng_uniform(rng) < 0.5) {
        fx_plan_add_segment(rc.p, arrival[n / 2]);
        random_groups(rng, &rc, shape, &devices);
    }
    rc.t = fx_trace(n, arrival, model, slo, n_models);
    free(arrival);
    free(slo);
    free(model);

    rc.c = fx_cluster(devices, devices);
    for (int k = 0; k < SPEC_OH_COUNT; k++) {
        if (gsl_rng_uniform(rng) < 0.5)
            continue;
        rc.c.overheads.term[k].mean_s = 0.02 * gsl_rng_uniform(rng);
        if (shape.random_overheads)
            rc.c.overheads.term[k].sd_s = 0.01 * gsl_rng_uniform(rng);
    }
    if (gsl_rng_uniform(rng) < 0.3)
        rc.c.overheads.stage_factor_per_pp = 0.009;
    rc.o = (struct sim_options){.engine = SIM_ENGINE_EVENT,
                                .dispatch = sim_dispatch_policies[gsl_rng_uniform_int(rng, 3)],
                                .max_batch =
                                    shape.batching ? 1 + (uint32_t)gsl_rng_uniform_int(rng, 6) : 1,
                                .seed = seed,
                                .threads = 1};
    gsl_rng_free(rng);
    return rc;
}

void random_case_free(struct random_case *rc)
{
    wl_trace_free(rc->t);
    spec_plan_free(rc->p);
    spec_profile_free(rc->db);
}

void random_case_assert_same(const struct sim_results *a, const struct sim_results *b,
                             uint64_t seed)
{
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->status[i], b->status[i], "case %llu request %zu: status %d vs %d",
                     (unsigned long long)seed, i, a->status[i], b->status[i]);
        cr_assert_eq(a->group[i], b->group[i], "case %llu request %zu: group",
                     (unsigned long long)seed, i);
        cr_assert_eq(a->start_ns[i], b->start_ns[i], "case %llu request %zu: start",
                     (unsigned long long)seed, i);
        cr_assert_eq(a->finish_ns[i], b->finish_ns[i], "case %llu request %zu: finish",
                     (unsigned long long)seed, i);
        cr_assert_eq(a->exec_ns[i], b->exec_ns[i], "case %llu request %zu: exec",
                     (unsigned long long)seed, i);
        cr_assert_eq(a->batch[i], b->batch[i], "case %llu request %zu: batch",
                     (unsigned long long)seed, i);
    }
    cr_assert_eq(a->n_stages, b->n_stages);
    for (size_t s = 0; s < a->n_stages; s++)
        cr_assert_eq(a->busy_ns[s], b->busy_ns[s], "case %llu stage %zu: busy",
                     (unsigned long long)seed, s);
}
