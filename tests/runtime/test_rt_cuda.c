/* The CUDA executor: real fp16 stages on a GPU. Every test skips without one (the project machine
 * has none; tools/device-check runs them where a GPU is lent). */
#include "cu_rt.h"
#include "prof_arch.h"
#include "rt_backend.h"

#include "mx_error.h"

#include <criterion/criterion.h>
#include <math.h>

static struct prof_arch small_arch(void)
{
    return (struct prof_arch){.name = "small",
                              .kind = PROF_ARCH_CAUSAL,
                              .seq = 64,
                              .hidden = 256,
                              .layers = 4,
                              .heads = 4,
                              .ffn = 1024,
                              .vocab = 1000,
                              .dtype_bytes = 2};
}

static void need_gpu(void)
{
    if (cu_rt_device_count() == 0)
        cr_skip_test("no GPU");
}

/* Layers [begin, end) of a on GPU 0, run from in (NULL: embed tokens 42); the checksum of its
 * output in *sum, and the output buffer (the caller frees it). */
static void *run_stage(const struct prof_arch *a, int32_t begin, int32_t end, const void *in,
                       double *sum)
{
    struct rt_stage_spec spec = {.arch = a,
                                 .layer_begin = begin,
                                 .layer_end = end,
                                 .first = begin == 0,
                                 .last = end == a->layers,
                                 .op = 1,
                                 .gpu = 0,
                                 .seed = 7};
    struct rt_stage *s;
    void *out;
    cr_assert_eq(rt_backend_cuda.stage_new(&spec, &s), MX_OK, "%s", mx_error_message());
    cr_assert_eq(rt_backend_cuda.act_new(s, &out), MX_OK, "%s", mx_error_message());
    cr_assert_eq(rt_backend_cuda.forward(s, 42, in, out), MX_OK, "%s", mx_error_message());
    cr_assert_eq(rt_backend_cuda.act_checksum(s, out, sum), MX_OK, "%s", mx_error_message());
    rt_backend_cuda.stage_free(s);
    return out;
}

Test(rt_cuda, a_stage_computes_finite_repeatable_values)
{
    need_gpu();
    struct prof_arch a = small_arch();
    double cx, cy;
    void *x = run_stage(&a, 0, 4, NULL, &cx), *y = run_stage(&a, 0, 4, NULL, &cy);
    cr_assert(isfinite(cx), "checksum %g", cx);
    cr_assert_eq(cx, cy, "the same weights and tokens give the same output");
    rt_backend_cuda.act_free(x);
    rt_backend_cuda.act_free(y);
}

Test(rt_cuda, pipeline_stages_chain_to_the_whole_model)
{
    need_gpu();
    struct prof_arch a = small_arch();
    double cw, cf, cl;
    void *whole = run_stage(&a, 0, 4, NULL, &cw);
    void *first = run_stage(&a, 0, 2, NULL, &cf);
    void *last = run_stage(&a, 2, 4, first, &cl);
    cr_assert(fabs(cw - cl) <= 1e-3 * (fabs(cw) + 1), "whole %g, split %g", cw, cl);
    rt_backend_cuda.act_free(whole);
    rt_backend_cuda.act_free(first);
    rt_backend_cuda.act_free(last);
}
