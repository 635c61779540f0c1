/* src/profiler: the cpu backend. Its loops against their definitions, then its timings: plausible
 * for a GEMM's FLOPs, growing with an op's size, with a consistent spread; and bad ops refused with
 * their name. The timing tests allow for noisy, shared machines: bounds are loose, ratios are
 * compared with about half the margin the sizes give. */
#include "mx_error.h"
#include "prof_backend.h"
#include "prof_cpu_kernels.h"
#include "prof_ops.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static struct prof_backend *open_cpu(void)
{
    struct prof_backend *b = NULL;
    cr_assert_eq(prof_backend_cpu(NULL, &b), MX_OK, "%s", mx_error_message());
    cr_assert_not_null(b);
    return b;
}

static struct prof_op make_op(enum prof_op_kind kind, const char *name, int64_t m, int64_t n,
                              int64_t k)
{
    double flops = kind == PROF_OP_GEMM ? 2.0 * (double)m * (double)n * (double)k
                                        : 5.0 * (double)m * (double)n;
    return (struct prof_op){.kind = kind,
                            .name = name,
                            .m = m,
                            .n = n,
                            .k = k,
                            .count = 1,
                            .flops = flops,
                            .bytes = 8.0 * (double)m * (double)n};
}

static void assert_spread(const struct prof_timing *t, const char *what)
{
    cr_assert(t->median_s > 0, "%s: median %g", what, t->median_s);
    cr_assert(t->p10_s <= t->median_s && t->median_s <= t->p90_s, "%s: p10 %g median %g p90 %g",
              what, t->p10_s, t->median_s, t->p90_s);
    cr_assert(t->reps >= 5 && t->reps <= 200, "%s: %d reps", what, t->reps);
}

/* ---- the loops ---- */

Test(prof_cpu, softmax_rows_sum_to_one_and_stay_finite)
{
    /* Row lengths around the block size exercise the blocked loops and their tails; huge values
     * would overflow expf() without subtracting the maximum. */
    const size_t cols_cases[] = {1, 7, 8, 9, 37, 256};
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 3;
        float x[3 * 256], y[3 * 256];
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)((i * 13) % 17) - 8.0f + (i >= cols && i < 2 * cols ? 1000.0f : 0.0f);
        prof__cpu_softmax(x, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double sum = 0, ref_sum = 0, xmax = -INFINITY;
            for (size_t i = 0; i < cols; i++)
                xmax = fmax(xmax, x[r * cols + i]);
            for (size_t i = 0; i < cols; i++)
                ref_sum += exp(x[r * cols + i] - xmax);
            for (size_t i = 0; i < cols; i++) {
                float v = y[r * cols + i];
                double ref = exp(x[r * cols + i] - xmax) / ref_sum;
                cr_assert(isfinite(v) && v >= 0 && v <= 1, "cols %zu row %zu: %g", cols, r, v);
                cr_assert(fabs(v - ref) <= 1e-6 + 1e-5 * ref, "cols %zu: %g vs %g", cols, v, ref);
                sum += v;
            }
            cr_assert(fabs(sum - 1) < 1e-5, "cols %zu row %zu sums to %.9g", cols, r, sum);
        }
    }
}

static void row_moments(const float *y, size_t cols, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < cols; i++)
        s += y[i];
    *mean = s / (double)cols;
    for (size_t i = 0; i < cols; i++)
        ss += (y[i] - *mean) * (y[i] - *mean);
    *var = ss / (double)cols;
}

Test(prof_cpu, layernorm_rows_have_mean_zero_variance_one_then_gamma_beta)
{
    const size_t cols_cases[] = {2, 7, 8, 13, 64, 1000};
    static float x[4 * 1000], y[4 * 1000], gamma[1000], beta[1000];
    for (size_t c = 0; c < sizeof cols_cases / sizeof cols_cases[0]; c++) {
        size_t cols = cols_cases[c], rows = 4;
        /* Rows with different offsets and scales (variance >> eps). */
        for (size_t i = 0; i < rows * cols; i++)
            x[i] = (float)(i / cols) * 10.0f + (float)((i * 7) % 11) * (float)(1 + i / cols);
        for (size_t i = 0; i < cols; i++) {
            gamma[i] = 1.0f;
            beta[i] = 0.0f;
        }
        prof__cpu_layernorm(x, gamma, beta, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double mean, var;
            row_moments(y + r * cols, cols, &mean, &var);
            cr_assert(fabs(mean) < 1e-5, "cols %zu row %zu: mean %g", cols, r, mean);
            cr_assert(fabs(var - 1) < 1e-3, "cols %zu row %zu: variance %g", cols, r, var);
        }
        for (size_t i = 0; i < cols; i++) {
            gamma[i] = 2.0f;
            beta[i] = 3.0f;
        }
        prof__cpu_layernorm(x, gamma, beta, y, rows, cols);
        for (size_t r = 0; r < rows; r++) {
            double mean, var;
            row_moments(y + r * cols, cols, &mean, &var);
            cr_assert(fabs(mean - 3) < 1e-4, "cols %zu row %zu: mean %g", cols, r, mean);
            cr_assert(fabs(var - 4) < 4e-3, "cols %zu row %zu: variance %g", cols, r, var);
        }
    }
}

Test(prof_cpu, gelu_matches_the_tanh_approximation)
{
    const float x[] = {0.0f, 1.0f, -1.0f, 10.0f, -10.0f, 30.0f, -30.0f, 0.5f, -3.0f};
    const size_t n = sizeof x / sizeof x[0];
    float y[sizeof x / sizeof x[0]];
    prof__cpu_gelu(x, y, n);
    cr_assert_eq(y[0], 0.0f);
    cr_assert(fabsf(y[3] - 10.0f) < 1e-5f && fabsf(y[5] - 30.0f) < 1e-5f, "%g %g", y[3], y[5]);
    cr_assert(fabsf(y[4]) < 1e-6f && fabsf(y[6]) < 1e-6f, "%g %g", y[4], y[6]);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        cr_assert(fabs(y[i] - ref) <= 1e-6 + 1e-6 * fabs(ref), "gelu(%g) = %.9g, not %.9g", v, y[i],
                  ref);
    }
    cr_assert(fabsf(y[1] - 0.841192f) < 1e-5f, "gelu(1) = %.9g", y[1]);
}

Test(prof_cpu, add_is_elementwise_with_a_tail)
{
    float a[21], b[21], c[21];
    for (size_t i = 0; i < 21; i++) {
        a[i] = (float)i;
        b[i] = 0.5f * (float)i - 3.0f;
    }
    prof__cpu_add(a, b, c, 21);
    for (size_t i = 0; i < 21; i++)
        cr_assert_eq(c[i], a[i] + b[i], "element %zu", i);
}

/* ---- the backend ---- */

Test(prof_cpu, name_and_element_size)
{
    struct prof_backend *b = open_cpu();
    cr_assert_str_eq(b->name, "cpu");
    cr_assert_eq(b->elem_bytes, 4);
    cr_assert_eq(b->time_ops(b, NULL, 0, NULL), MX_OK);
    b->free(b);
}

Test(prof_cpu, gemm_time_is_plausible_and_grows_with_flops)
{
    struct prof_backend *b = open_cpu();
    struct prof_op ops[] = {
        make_op(PROF_OP_GEMM, "small", 256, 256, 256),
        make_op(PROF_OP_GEMM, "large", 512, 512, 512), /* 8x the FLOPs */
    };
    struct prof_timing t[2];
    cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
    assert_spread(&t[0], "256^3");
    assert_spread(&t[1], "512^3");
    double gflops = ops[0].flops / t[0].median_s / 1e9;
    cr_assert(gflops >= 0.2 && gflops <= 500, "256^3 sgemm at %g GFLOP/s", gflops);
    cr_assert(t[1].median_s >= 3 * t[0].median_s, "512^3 took %g s, 256^3 %g s", t[1].median_s,
              t[0].median_s);
    b->free(b);
}

Test(prof_cpu, memory_bound_ops_scale_with_size)
{
    static const struct {
        enum prof_op_kind kind;
        const char *name;
    } kinds[] = {{PROF_OP_SOFTMAX, "softmax"},
                 {PROF_OP_LAYERNORM, "layernorm"},
                 {PROF_OP_GELU, "gelu"},
                 {PROF_OP_ADD, "add"}};
    struct prof_backend *b = open_cpu();
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        /* 16x the elements: 4x the rows, 4x the columns. */
        struct prof_op ops[] = {make_op(kinds[i].kind, kinds[i].name, 128, 256, 0),
                                make_op(kinds[i].kind, kinds[i].name, 512, 1024, 0)};
        struct prof_timing t[2];
        cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
        assert_spread(&t[0], kinds[i].name);
        assert_spread(&t[1], kinds[i].name);
        cr_assert(t[1].median_s >= 4 * t[0].median_s, "%s: 16x the size took %g s, not 4x %g s",
                  kinds[i].name, t[1].median_s, t[0].median_s);
    }
    b->free(b);
}

Test(prof_cpu, count_repeats_the_op)
{
    struct prof_backend *b = open_cpu();
    struct prof_op ops[] = {make_op(PROF_OP_ADD, "once", 256, 256, 0),
                            make_op(PROF_OP_ADD, "sixteen", 256, 256, 0)};
    ops[1].count = 16;
    struct prof_timing t[2];
    cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
    cr_assert(t[1].median_s >= 4 * t[0].median_s, "count 16 took %g s, count 1 %g s", t[1].median_s,
              t[0].median_s);
    b->free(b);
}

Test(prof_cpu, bad_ops_fail_naming_the_op)
{
    static const struct {
        struct prof_op op;
        const char *message;
    } cases[] = {
        {{.kind = PROF_OP_GEMM,
          .name = "absurd",
          .m = 1000000,
          .n = 1000000,
          .k = 1000000,
          .count = 1},
         "op absurd: its buffers need 1.12e+04 GiB (m 1000000, n 1000000, k 1000000), over"},
        {{.kind = PROF_OP_SOFTMAX, .name = "wide", .m = 100000, .n = 100000, .count = 1},
         "op wide: its buffers need"},
        {{.kind = PROF_OP_GEMM, .name = "flat", .m = 4, .n = 4, .k = 0, .count = 1},
         "op flat: sizes and count must be positive"},
        {{.kind = PROF_OP_ADD, .name = "none", .m = 4, .n = 4, .count = 0},
         "op none: sizes and count must be positive"},
        {{.kind = (enum prof_op_kind)42, .name = "odd", .m = 4, .n = 4, .count = 1},
         "op odd: unknown kind 42"},
    };
    struct prof_backend *b = open_cpu();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A good op first: the bad one is refused before anything runs. */
        struct prof_op ops[] = {make_op(PROF_OP_ADD, "fine", 8, 8, 0), cases[i].op};
        struct prof_timing t[2];
        cr_assert_eq(b->time_ops(b, ops, 2, t), MX_EINPUT, "case %zu", i);
        cr_assert(strstr(mx_error_message(), cases[i].message), "case %zu: %s", i,
                  mx_error_message());
    }
    b->free(b);
}
