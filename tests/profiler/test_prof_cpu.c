/* src/profiler: the cpu backend. Its loops against their definitions, then its timings: plausible
 * for a GEMM's FLOPs, growing with an op's size, with a consistent spread; and bad ops refused with
 * their name. The timing tests allow for noisy, shared machines: bounds are loose, ratios are
 * compared with about half the margin the sizes give. */
#include "mx_error.h"
#include "prof_backend.h"
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
    int rc = b->time_ops(b, ops, 2, t);
    b->free(b);
    cr_assert_eq(rc, MX_OK, "%s", mx_error_message());
    assert_spread(&t[0], "256^3");
    assert_spread(&t[1], "512^3");
    double gflops = ops[0].flops / t[0].median_s / 1e9;
    cr_assert(gflops >= 0.2 && gflops <= 500, "256^3 sgemm at %g GFLOP/s", gflops);
    /* 8x the FLOPs: more time, whatever else the machine runs (the ratio itself is the busy
     * machine's: 2.8 measured here once under load, 6 to 8 quiet). */
    cr_assert(t[1].median_s > t[0].median_s, "512^3 took %g s, 256^3 %g s", t[1].median_s,
              t[0].median_s);
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
        /* 16x the elements: 4x the rows, 4x the columns; at least twice the time, with margin for
         * a busy machine. */
        struct prof_op ops[] = {make_op(kinds[i].kind, kinds[i].name, 128, 256, 0),
                                make_op(kinds[i].kind, kinds[i].name, 512, 1024, 0)};
        struct prof_timing t[2];
        cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
        assert_spread(&t[0], kinds[i].name);
        assert_spread(&t[1], kinds[i].name);
        cr_assert(t[1].median_s >= 2 * t[0].median_s, "%s: 16x the size took %g s, not 2x %g s",
                  kinds[i].name, t[1].median_s, t[0].median_s);
    }
    b->free(b);
}

Test(prof_cpu, count_repeats_the_op)
{
    struct prof_backend *b = open_cpu();
    struct prof_op ops[] = {make_op(PROF_OP_ADD, "once", 256, 256, 0),
                            make_op(PROF_OP_ADD, "sixteen", 256, 256, 0)};
    ops[1].count = 16; /* at least twice the time, with margin for a busy machine */
    struct prof_timing t[2];
    cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
    cr_assert(t[1].median_s >= 2 * t[0].median_s, "count 16 took %g s, count 1 %g s", t[1].median_s,
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
