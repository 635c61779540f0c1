/* cuda/'s profiler: without a GPU (or in a build without CUDA) every entry point fails with
 * MX_EUSAGE and says why; bad arguments are caught before any device is touched; with a GPU,
 * GEMMs, our kernels and copies take plausible times with ordered quantiles. Tests that need a GPU
 * skip themselves when none is visible. */
#include "cu_prof.h"
#include "fixture.h"
#include "mx_config.h"
#include "mx_error.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static struct cu_op op_of(enum cu_op_kind kind, int64_t m, int64_t n, int64_t k, int64_t count)
{
    return (struct cu_op){.kind = kind, .name = "test", .m = m, .n = n, .k = k, .count = count};
}

/* ---- without a GPU --------------------------------------------------------------------------- */

Test(cu_prof, calls_fail_cleanly_without_a_gpu)
{
    FX_SKIP_WITH_GPU();
    struct cu_op op = op_of(CU_OP_GEMM, 64, 64, 64, 1);
    struct cu_timing t = {.median_s = -1.0, .p10_s = -1.0, .p90_s = -1.0, .reps = -1};
    double bw = -1.0;
    char name[64] = "unchanged";
    cr_assert_eq(cu_prof_device_count(), 0);
    fx_expect_error(cu_prof_time_ops(0, &op, 1, &t), MX_EUSAGE, fx_gpu_unavailable());
    cr_assert(t.median_s == -1.0 && t.p10_s == -1.0 && t.p90_s == -1.0 && t.reps == -1);
    fx_expect_error(cu_prof_copy_bandwidth(0, 1 << 20, &bw), MX_EUSAGE, fx_gpu_unavailable());
    cr_assert(bw == -1.0);
    fx_expect_error(cu_prof_device_name(0, name, sizeof(name)), MX_EUSAGE, fx_gpu_unavailable());
    cr_assert_str_empty(name);
    fx_expect_error(cu_prof_allreduce_bandwidth(2, 1 << 20, &bw), MX_EUSAGE,
                    MX_HAVE_CUDA ? "0 visible" : "built without CUDA");
    cr_assert(bw == -1.0);
}

/* ---- arguments, checked before any device is touched ----------------------------------------- */

Test(cu_prof, allreduce_needs_two_gpus)
{
    double bw = -1.0;
    const char *why = MX_HAVE_CUDA ? "needs 2 or more GPUs" : "built without CUDA";
    fx_expect_error(cu_prof_allreduce_bandwidth(1, 1 << 20, &bw), MX_EUSAGE, why);
    fx_expect_error(cu_prof_allreduce_bandwidth(0, 1 << 20, &bw), MX_EUSAGE, why);
    cr_assert(bw == -1.0);
    if (cu_prof_device_count() < 2)
        fx_expect_error(cu_prof_allreduce_bandwidth(2, 1 << 20, &bw), MX_EUSAGE,
                        MX_HAVE_CUDA ? "visible" : "built without CUDA");
}

struct bad_ops_case {
    struct cu_op op;
    const char *message;
};

Test(cu_prof, bad_ops)
{
    static const struct bad_ops_case cases[] = {
        {{.kind = CU_OP_GEMM, .name = "g", .m = 0, .n = 8, .k = 8, .count = 1}, "must be positive"},
        {{.kind = CU_OP_GEMM, .name = "g", .m = 8, .n = 8, .k = 0, .count = 1},
         "m, n, k and count"},
        {{.kind = CU_OP_GEMM, .name = "g", .m = 8, .n = -1, .k = 8, .count = 1}, "n -1"},
        {{.kind = CU_OP_SOFTMAX, .name = "s", .m = 8, .n = 8, .count = 0}, "count 0"},
        {{.kind = CU_OP_ADD, .name = NULL, .m = 0, .n = 8, .count = 1}, "(unnamed)"},
        {{.kind = (enum cu_op_kind)99, .name = "x", .m = 8, .n = 8, .count = 1}, "unknown kind 99"},
        {{.kind = CU_OP_GELU, .name = "big", .m = INT64_MAX / 2, .n = 4, .count = 1}, "too large"},
        {{.kind = CU_OP_GEMM, .name = "big", .m = 1 << 30, .n = 1 << 30, .k = 8, .count = 1 << 30},
         "too large"},
        {{.kind = CU_OP_GEMM, .name = "batch", .m = 1, .n = 1, .k = 1, .count = INT64_C(1) << 32},
         "too large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cu_op ops[2] = {op_of(CU_OP_GELU, 8, 8, 0, 1), cases[i].op};
        struct cu_timing t[2];
        int rc = cu_prof_time_ops(0, ops, 2, t);
        cr_assert_eq(rc, MX_HAVE_CUDA ? MX_EINPUT : MX_EUSAGE, "case %zu: rc %d (%s)", i, rc,
                     mx_error_message());
        fx_expect_error(rc, rc, MX_HAVE_CUDA ? cases[i].message : "built without CUDA");
        if (MX_HAVE_CUDA)
            cr_assert(strstr(mx_error_message(), "op 1 "), "%s", mx_error_message());
    }
}

Test(cu_prof, bad_arguments)
{
    struct cu_op op = op_of(CU_OP_GEMM, 8, 8, 8, 1);
    struct cu_timing t;
    double bw;
    char name[8];
    bool cuda = MX_HAVE_CUDA;
    const char *none = "built without CUDA";
    fx_expect_error(cu_prof_time_ops(0, NULL, 1, &t), MX_EUSAGE, cuda ? "must not be NULL" : none);
    fx_expect_error(cu_prof_time_ops(0, &op, 1, NULL), MX_EUSAGE, cuda ? "must not be NULL" : none);
    fx_expect_error(cu_prof_time_ops(0, &op, 0, &t), MX_EUSAGE, cuda ? "no ops to time" : none);
    fx_expect_error(cu_prof_copy_bandwidth(0, 0, &bw), MX_EUSAGE,
                    cuda ? "bytes must be positive" : none);
    fx_expect_error(cu_prof_copy_bandwidth(0, 1024, NULL), MX_EUSAGE,
                    cuda ? "must not be NULL" : none);
    fx_expect_error(cu_prof_allreduce_bandwidth(2, 1024, NULL), MX_EUSAGE,
                    cuda ? "must not be NULL" : none);
    fx_expect_error(cu_prof_allreduce_bandwidth(2, 1, &bw), MX_EUSAGE,
                    cuda ? "less than one fp16" : none);
    fx_expect_error(cu_prof_allreduce_bandwidth(1000, 1024, &bw), MX_EUSAGE,
                    cuda ? "at most" : none);
    fx_expect_error(cu_prof_device_name(0, NULL, 8), MX_EUSAGE, cuda ? "no buffer" : none);
    fx_expect_error(cu_prof_device_name(0, name, 0), MX_EUSAGE, cuda ? "no buffer" : none);
}

Test(cu_prof, bad_device)
{
    struct cu_op op = op_of(CU_OP_ADD, 8, 8, 0, 1);
    struct cu_timing t;
    double bw;
    char name[64];
    int n = cu_prof_device_count();
    const char *why = !MX_HAVE_CUDA ? "built without CUDA" : n ? "(" : "no GPU is visible";
    fx_expect_error(cu_prof_time_ops(-1, &op, 1, &t), MX_EUSAGE, why);
    fx_expect_error(cu_prof_time_ops(n, &op, 1, &t), MX_EUSAGE, why);
    fx_expect_error(cu_prof_copy_bandwidth(n, 1024, &bw), MX_EUSAGE, why);
    fx_expect_error(cu_prof_device_name(n, name, sizeof(name)), MX_EUSAGE, why);
    if (n)
        cr_assert(strstr(mx_error_message(), "visible)"), "%s", mx_error_message());
}

/* ---- with a GPU ------------------------------------------------------------------------------ */

static void assert_timing(const struct cu_timing *t, const char *what)
{
    cr_assert_geq(t->reps, 20, "%s: %d reps", what, t->reps);
    cr_assert_gt(t->p10_s, 0.0, "%s: p10 %g s", what, t->p10_s);
    cr_assert(t->p10_s <= t->median_s && t->median_s <= t->p90_s, "%s: p10 %g, median %g, p90 %g",
              what, t->p10_s, t->median_s, t->p90_s);
    cr_assert_lt(t->p90_s, 1.0, "%s: p90 %g s", what, t->p90_s);
}

Test(cu_prof, gemm_4096)
{
    FX_SKIP_WITHOUT_GPU();
    struct cu_op op = op_of(CU_OP_GEMM, 4096, 4096, 4096, 1);
    struct cu_timing t;
    double flops = 2.0 * 4096.0 * 4096.0 * 4096.0;
    cr_assert_eq(cu_prof_time_ops(0, &op, 1, &t), MX_OK, "%s", mx_error_message());
    assert_timing(&t, "gemm 4096");
    cr_assert_gt(t.median_s, flops / 2e15, "%g s: faster than 2 PFLOP/s", t.median_s);
    cr_assert_lt(t.median_s, 1.0);
    cr_log_info("gemm 4096^3 fp16: median %.3g s (%.0f TFLOP/s), p10 %.3g, p90 %.3g, %d reps",
                t.median_s, flops / t.median_s / 1e12, t.p10_s, t.p90_s, t.reps);
}

/* Odd and batched shapes, one call: each op gets its own plan and buffers. */
Test(cu_prof, gemm_shapes)
{
    FX_SKIP_WITHOUT_GPU();
    struct cu_op ops[] = {
        op_of(CU_OP_GEMM, 1, 3, 5, 1),          op_of(CU_OP_GEMM, 1, 4096, 4096, 1),
        op_of(CU_OP_GEMM, 2048, 128, 2048, 32), op_of(CU_OP_GEMM, 2048, 2048, 128, 32),
        op_of(CU_OP_GEMM, 1000, 999, 37, 3),
    };
    struct cu_timing t[sizeof(ops) / sizeof(ops[0])];
    size_t n = sizeof(ops) / sizeof(ops[0]);
    cr_assert_eq(cu_prof_time_ops(0, ops, n, t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < n; i++) {
        assert_timing(&t[i], "gemm");
        cr_log_info("gemm %lld x %lld x %lld (count %lld): median %.3g s", (long long)ops[i].m,
                    (long long)ops[i].n, (long long)ops[i].k, (long long)ops[i].count,
                    t[i].median_s);
    }
    /* A batch of 32 does more work than one of its GEMMs alone. */
    struct cu_op one = op_of(CU_OP_GEMM, 2048, 2048, 128, 1);
    struct cu_timing t1;
    cr_assert_eq(cu_prof_time_ops(0, &one, 1, &t1), MX_OK, "%s", mx_error_message());
    cr_assert_gt(t[3].median_s, t1.median_s);
}

/* Our kernels, on vectorised (columns a multiple of 8) and scalar shapes, rows longer than a block
 * covers, and count > 1. */
Test(cu_prof, kernels)
{
    FX_SKIP_WITHOUT_GPU();
    struct cu_op ops[] = {
        op_of(CU_OP_SOFTMAX, 4096, 2048, 0, 2),   op_of(CU_OP_SOFTMAX, 100, 1000, 0, 1),
        op_of(CU_OP_SOFTMAX, 7, 3, 0, 1),         op_of(CU_OP_SOFTMAX, 16, 50000, 0, 1),
        op_of(CU_OP_LAYERNORM, 8192, 4096, 0, 2), op_of(CU_OP_LAYERNORM, 33, 1001, 0, 2),
        op_of(CU_OP_GELU, 8192, 16384, 0, 1),     op_of(CU_OP_GELU, 3, 5, 0, 1),
        op_of(CU_OP_ADD, 8192, 4096, 0, 2),       op_of(CU_OP_ADD, 1, 7, 0, 3),
    };
    static const char *const kind[] = {"gemm", "softmax", "layernorm", "gelu", "add"};
    size_t n = sizeof(ops) / sizeof(ops[0]);
    struct cu_timing t[sizeof(ops) / sizeof(ops[0])];
    cr_assert_eq(cu_prof_time_ops(0, ops, n, t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < n; i++) {
        assert_timing(&t[i], kind[ops[i].kind]);
        double bytes = (ops[i].kind == CU_OP_ADD ? 3.0 : 2.0) * 2.0 * (double)ops[i].m *
                       (double)ops[i].n * (double)ops[i].count;
        cr_log_info("%s %lld x %lld (count %lld): median %.3g s (%.0f GB/s), %d reps",
                    kind[ops[i].kind], (long long)ops[i].m, (long long)ops[i].n,
                    (long long)ops[i].count, t[i].median_s, bytes / t[i].median_s / 1e9, t[i].reps);
    }
}

Test(cu_prof, copy_bandwidth)
{
    FX_SKIP_WITHOUT_GPU();
    double bw = 0.0;
    cr_assert_eq(cu_prof_copy_bandwidth(0, (size_t)256 << 20, &bw), MX_OK, "%s",
                 mx_error_message());
    cr_assert(bw > 1e10 && bw < 1e13, "%g bytes/s", bw);
    cr_log_info("device-to-device copy of 256 MiB: %.0f GB/s (read + write)", bw / 1e9);
}

Test(cu_prof, allreduce_bandwidth)
{
    if (cu_prof_device_count() < 2)
        cr_skip_test("fewer than 2 GPUs are visible");
    double bw = 0.0;
    cr_assert_eq(cu_prof_allreduce_bandwidth(2, (size_t)64 << 20, &bw), MX_OK, "%s",
                 mx_error_message());
    cr_assert(bw > 1e9 && bw < 1e13, "%g bytes/s", bw);
    cr_log_info("all-reduce of 64 MiB over 2 GPUs: bus bandwidth %.0f GB/s", bw / 1e9);
}

Test(cu_prof, device_name)
{
    FX_SKIP_WITHOUT_GPU();
    char name[256];
    cr_assert_eq(cu_prof_device_name(0, name, sizeof(name)), MX_OK, "%s", mx_error_message());
    cr_assert_str_not_empty(name);
    char small[4];
    cr_assert_eq(cu_prof_device_name(0, small, sizeof(small)), MX_OK);
    cr_assert_eq(strlen(small), 3);
    cr_log_info("device 0: %s", name);
}
