/* The CPU executor: real transformer stages whose splits compute what one device would. */
#include "kern_weights.h"
#include "prof_arch.h"
#include "rt_backend.h"
#include "rt_team.h"

#include "mx_error.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct prof_arch small_arch(enum prof_arch_kind kind)
{
    return (struct prof_arch){.name = "small",
                              .kind = kind,
                              .seq = 16,
                              .hidden = 64,
                              .layers = 4,
                              .heads = 4,
                              .ffn = 256,
                              .vocab = 100,
                              .dtype_bytes = 4};
}

static size_t act_len(const struct prof_arch *a)
{
    return (size_t)(a->seq * a->hidden);
}

/* Run layers [begin, end) of a on one device; in is NULL for the first stage. */
static float *run_stage(const struct prof_arch *a, int32_t begin, int32_t end, const float *in,
                        uint64_t tokens)
{
    struct rt_stage_spec spec = {.arch = a,
                                 .layer_begin = begin,
                                 .layer_end = end,
                                 .first = begin == 0,
                                 .last = end == a->layers,
                                 .op = 1,
                                 .gpu = -1,
                                 .seed = 7};
    struct rt_stage *s;
    void *out;
    cr_assert_eq(rt_backend_cpu.stage_new(&spec, &s), MX_OK, "%s", mx_error_message());
    cr_assert_eq(rt_backend_cpu.act_new(s, &out), MX_OK);
    cr_assert_eq(rt_backend_cpu.forward(s, tokens, in, out), MX_OK);
    rt_backend_cpu.stage_free(s);
    return out;
}

struct rank_job {
    const struct prof_arch *a;
    struct rt_team *team;
    unsigned op, rank;
    float *out; /* shared */
};

static void *run_rank(void *p)
{
    struct rank_job *j = p;
    struct rt_stage_spec spec = {.arch = j->a,
                                 .layer_begin = 0,
                                 .layer_end = (int32_t)j->a->layers,
                                 .first = true,
                                 .last = true,
                                 .op = j->op,
                                 .rank = j->rank,
                                 .team = j->team,
                                 .gpu = -1,
                                 .seed = 7};
    struct rt_stage *s;
    if (rt_backend_cpu.stage_new(&spec, &s) != MX_OK)
        abort();
    rt_backend_cpu.forward(s, 42, NULL, j->out);
    rt_backend_cpu.stage_free(s);
    return NULL;
}

/* The whole model split over op tensor-parallel threads. */
static float *run_tensor_parallel(const struct prof_arch *a, unsigned op)
{
    struct rt_team team;
    pthread_t threads[8];
    struct rank_job jobs[8];
    float *out = calloc(act_len(a), sizeof(float));
    rt_team_init(&team, op);
    for (unsigned r = 0; r < op; r++) {
        jobs[r] = (struct rank_job){a, &team, op, r, out};
        pthread_create(&threads[r], NULL, run_rank, &jobs[r]);
    }
    for (unsigned r = 0; r < op; r++)
        pthread_join(threads[r], NULL);
    rt_team_release(&team);
    return out;
}

static void expect_close(const float *x, const float *y, size_t n, float tol)
{
    double energy = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(x[i]) && isfinite(y[i]), "element %zu is not finite", i);
        cr_assert(fabsf(x[i] - y[i]) <= tol, "element %zu: %.7g vs %.7g", i, x[i], y[i]);
        energy += (double)x[i] * x[i];
    }
    cr_assert_gt(energy / (double)n, 0.1, "the output is nearly zero: nothing was computed");
}

Test(rt_cpu, pipeline_stages_chain_to_the_whole_model)
{
    struct prof_arch a = small_arch(PROF_ARCH_ENCODER);
    float *whole = run_stage(&a, 0, 4, NULL, 42);
    float *first = run_stage(&a, 0, 1, NULL, 42);
    float *middle = run_stage(&a, 1, 3, first, 42);
    float *last = run_stage(&a, 3, 4, middle, 42);
    expect_close(whole, last, act_len(&a), 0.0f); /* the same ops in the same order */
    free(whole);
    free(first);
    free(middle);
    free(last);
}

Test(rt_cpu, tensor_parallel_ranks_compute_what_one_device_does)
{
    struct prof_arch a = small_arch(PROF_ARCH_ENCODER);
    float *one = run_stage(&a, 0, 4, NULL, 42);
    for (unsigned op = 2; op <= 4; op *= 2) {
        float *split = run_tensor_parallel(&a, op);
        expect_close(one, split, act_len(&a), 1e-4f); /* sums in another order */
        free(split);
    }
    free(one);
}

Test(rt_cpu, different_requests_and_models_differ)
{
    struct prof_arch a = small_arch(PROF_ARCH_CAUSAL);
    float *x = run_stage(&a, 0, 4, NULL, 1), *y = run_stage(&a, 0, 4, NULL, 2);
    cr_assert(memcmp(x, y, act_len(&a) * sizeof(float)) != 0);
    free(x);
    free(y);
}

Test(rt_cpu, causal_attention_ignores_later_tokens)
{
    /* Position 0 of a causal model sees only itself: two requests whose first token is the same give
     * the same first row. Token seeds 1 and 2 differ elsewhere; find a pair sharing token 0. */
    struct prof_arch a = small_arch(PROF_ARCH_CAUSAL);
    float *x = run_stage(&a, 0, 4, NULL, 1);
    float *y = NULL;
    for (uint64_t seed = 2; seed < 10000 && !y; seed++)
        if (kern_token(seed, 0, a.vocab) == kern_token(1, 0, a.vocab))
            y = run_stage(&a, 0, 4, NULL, seed);
    cr_assert_not_null(y, "no token seed shares the first token");
    expect_close(x, y, (size_t)a.hidden, 1e-6f);
    cr_assert(memcmp(x, y, act_len(&a) * sizeof(float)) != 0);
    free(x);
    free(y);
}

Test(rt_cpu, refuses_what_it_cannot_run)
{
    struct prof_arch a = small_arch(PROF_ARCH_MOE);
    struct rt_stage_spec spec = {.arch = &a,
                                 .layer_begin = 0,
                                 .layer_end = 4,
                                 .first = true,
                                 .last = true,
                                 .op = 1,
                                 .gpu = -1};
    struct rt_stage *s = NULL;
    cr_assert_eq(rt_backend_cpu.stage_new(&spec, &s), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "mixture-of-experts"));
    a = small_arch(PROF_ARCH_ENCODER);
    spec.op = 3;
    cr_assert_eq(rt_backend_cpu.stage_new(&spec, &s), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "do not divide heads 4"), "%s", mx_error_message());
    spec.op = 1;
    spec.layer_end = 5;
    cr_assert_eq(rt_backend_cpu.stage_new(&spec, &s), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "outside its 4 layers"), "%s", mx_error_message());
}
