/* cuda/ and the cuda backend: without a GPU (or in a build without CUDA) every entry point fails
 * with MX_EUSAGE and says why; bad arguments are caught before any device is touched; with a GPU,
 * GEMMs, our kernels and copies take plausible times with ordered quantiles. Tests that need a GPU
 * skip themselves when none is visible. */
#include "cu_prof.h"
#include "mx_config.h"
#include "mx_error.h"
#include "prof_backend.h"
#include "prof_ops.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool have_gpu(void)
{
    return cu_prof_device_count() > 0;
}

#define SKIP_WITHOUT_GPU()                                                                         \
    do {                                                                                           \
        if (!have_gpu())                                                                           \
            cr_skip_test("no GPU is visible");                                                     \
    } while (0)

#define SKIP_WITH_GPU()                                                                            \
    do {                                                                                           \
        if (have_gpu())                                                                            \
            cr_skip_test("a GPU is visible");                                                      \
    } while (0)

/* What a call that cannot run here says: no GPU, or no CUDA in this build. */
static const char *unavailable(void)
{
    return MX_HAVE_CUDA ? "no GPU is visible" : "built without CUDA";
}

static void assert_fails(int rc, int code, const char *message)
{
    cr_assert_eq(rc, code, "rc %d, expected %d (%s)", rc, code, mx_error_message());
    cr_assert(strstr(mx_error_message(), message), "message \"%s\" lacks \"%s\"",
              mx_error_message(), message);
}

static struct prof_op op_of(enum prof_op_kind kind, int64_t m, int64_t n, int64_t k, int64_t count)
{
    return (struct prof_op){.kind = kind, .name = "test", .m = m, .n = n, .k = k, .count = count};
}

/* ---- without a GPU --------------------------------------------------------------------------- */

Test(prof_cuda, backend_needs_a_gpu)
{
    SKIP_WITH_GPU();
    struct prof_backend *b = (struct prof_backend *)&b;
    assert_fails(prof_backend_cuda(NULL, &b), MX_EUSAGE, unavailable());
    cr_assert(strstr(mx_error_message(), MX_HAVE_CUDA ? "GPU" : "built without CUDA"));
    cr_assert_null(b);
}

Test(prof_cuda, calls_fail_cleanly_without_a_gpu)
{
    SKIP_WITH_GPU();
    struct prof_op op = op_of(PROF_OP_GEMM, 64, 64, 64, 1);
    struct prof_timing t = {.median_s = -1.0, .p10_s = -1.0, .p90_s = -1.0, .reps = -1};
    double bw = -1.0;
    char name[64] = "unchanged";
    cr_assert_eq(cu_prof_device_count(), 0);
    assert_fails(cu_prof_time_ops(0, &op, 1, &t), MX_EUSAGE, unavailable());
    cr_assert(t.median_s == -1.0 && t.p10_s == -1.0 && t.p90_s == -1.0 && t.reps == -1);
    assert_fails(cu_prof_copy_bandwidth(0, 1 << 20, &bw), MX_EUSAGE, unavailable());
    cr_assert(bw == -1.0);
    assert_fails(cu_prof_device_name(0, name, sizeof(name)), MX_EUSAGE, unavailable());
    cr_assert_str_empty(name);
    assert_fails(cu_prof_allreduce_bandwidth(2, 1 << 20, &bw), MX_EUSAGE,
                 MX_HAVE_CUDA ? "0 visible" : "built without CUDA");
    cr_assert(bw == -1.0);
}

/* ---- arguments, checked before any device is touched ----------------------------------------- */

Test(prof_cuda, allreduce_needs_two_gpus)
{
    double bw = -1.0;
    const char *why = MX_HAVE_CUDA ? "needs 2 or more GPUs" : "built without CUDA";
    assert_fails(cu_prof_allreduce_bandwidth(1, 1 << 20, &bw), MX_EUSAGE, why);
    assert_fails(cu_prof_allreduce_bandwidth(0, 1 << 20, &bw), MX_EUSAGE, why);
    cr_assert(bw == -1.0);
    if (cu_prof_device_count() < 2)
        assert_fails(cu_prof_allreduce_bandwidth(2, 1 << 20, &bw), MX_EUSAGE,
                     MX_HAVE_CUDA ? "visible" : "built without CUDA");
}

struct bad_ops_case {
    struct prof_op op;
    const char *message;
};

Test(prof_cuda, bad_ops)
{
    static const struct bad_ops_case cases[] = {
        {{.kind = PROF_OP_GEMM, .name = "g", .m = 0, .n = 8, .k = 8, .count = 1},
         "must be positive"},
        {{.kind = PROF_OP_GEMM, .name = "g", .m = 8, .n = 8, .k = 0, .count = 1},
         "m, n, k and count"},
        {{.kind = PROF_OP_GEMM, .name = "g", .m = 8, .n = -1, .k = 8, .count = 1}, "n -1"},
        {{.kind = PROF_OP_SOFTMAX, .name = "s", .m = 8, .n = 8, .count = 0}, "count 0"},
        {{.kind = PROF_OP_ADD, .name = NULL, .m = 0, .n = 8, .count = 1}, "(unnamed)"},
        {{.kind = (enum prof_op_kind)99, .name = "x", .m = 8, .n = 8, .count = 1},
         "unknown kind 99"},
        {{.kind = PROF_OP_GELU, .name = "big", .m = INT64_MAX / 2, .n = 4, .count = 1},
         "too large"},
        {{.kind = PROF_OP_GEMM,
          .name = "big",
          .m = 1 << 30,
          .n = 1 << 30,
          .k = 8,
          .count = 1 << 30},
         "too large"},
        {{.kind = PROF_OP_GEMM, .name = "batch", .m = 1, .n = 1, .k = 1, .count = INT64_C(1) << 32},
         "too large"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct prof_op ops[2] = {op_of(PROF_OP_GELU, 8, 8, 0, 1), cases[i].op};
        struct prof_timing t[2];
        int rc = cu_prof_time_ops(0, ops, 2, t);
        cr_assert_eq(rc, MX_HAVE_CUDA ? MX_EINPUT : MX_EUSAGE, "case %zu: rc %d (%s)", i, rc,
                     mx_error_message());
        assert_fails(rc, rc, MX_HAVE_CUDA ? cases[i].message : "built without CUDA");
        if (MX_HAVE_CUDA)
            cr_assert(strstr(mx_error_message(), "op 1 "), "%s", mx_error_message());
    }
}

Test(prof_cuda, bad_arguments)
{
    struct prof_op op = op_of(PROF_OP_GEMM, 8, 8, 8, 1);
    struct prof_timing t;
    double bw;
    char name[8];
    bool cuda = MX_HAVE_CUDA;
    const char *none = "built without CUDA";
    assert_fails(cu_prof_time_ops(0, NULL, 1, &t), MX_EUSAGE, cuda ? "must not be NULL" : none);
    assert_fails(cu_prof_time_ops(0, &op, 1, NULL), MX_EUSAGE, cuda ? "must not be NULL" : none);
    assert_fails(cu_prof_time_ops(0, &op, 0, &t), MX_EUSAGE, cuda ? "no ops to time" : none);
    assert_fails(cu_prof_copy_bandwidth(0, 0, &bw), MX_EUSAGE,
                 cuda ? "bytes must be positive" : none);
    assert_fails(cu_prof_copy_bandwidth(0, 1024, NULL), MX_EUSAGE,
                 cuda ? "must not be NULL" : none);
    assert_fails(cu_prof_allreduce_bandwidth(2, 1024, NULL), MX_EUSAGE,
                 cuda ? "must not be NULL" : none);
    assert_fails(cu_prof_allreduce_bandwidth(2, 1, &bw), MX_EUSAGE,
                 cuda ? "less than one fp16" : none);
    assert_fails(cu_prof_allreduce_bandwidth(1000, 1024, &bw), MX_EUSAGE, cuda ? "at most" : none);
    assert_fails(cu_prof_device_name(0, NULL, 8), MX_EUSAGE, cuda ? "no buffer" : none);
    assert_fails(cu_prof_device_name(0, name, 0), MX_EUSAGE, cuda ? "no buffer" : none);
}

Test(prof_cuda, bad_device)
{
    struct prof_op op = op_of(PROF_OP_ADD, 8, 8, 0, 1);
    struct prof_timing t;
    double bw;
    char name[64];
    int n = cu_prof_device_count();
    const char *why = !MX_HAVE_CUDA ? "built without CUDA" : n ? "(" : "no GPU is visible";
    assert_fails(cu_prof_time_ops(-1, &op, 1, &t), MX_EUSAGE, why);
    assert_fails(cu_prof_time_ops(n, &op, 1, &t), MX_EUSAGE, why);
    assert_fails(cu_prof_copy_bandwidth(n, 1024, &bw), MX_EUSAGE, why);
    assert_fails(cu_prof_device_name(n, name, sizeof(name)), MX_EUSAGE, why);
    if (n)
        cr_assert(strstr(mx_error_message(), "visible)"), "%s", mx_error_message());
}

/* ---- with a GPU ------------------------------------------------------------------------------ */

static void assert_timing(const struct prof_timing *t, const char *what)
{
    cr_assert_geq(t->reps, 20, "%s: %d reps", what, t->reps);
    cr_assert_gt(t->p10_s, 0.0, "%s: p10 %g s", what, t->p10_s);
    cr_assert(t->p10_s <= t->median_s && t->median_s <= t->p90_s, "%s: p10 %g, median %g, p90 %g",
              what, t->p10_s, t->median_s, t->p90_s);
    cr_assert_lt(t->p90_s, 1.0, "%s: p90 %g s", what, t->p90_s);
}

Test(prof_cuda, gemm_4096)
{
    SKIP_WITHOUT_GPU();
    struct prof_op op = op_of(PROF_OP_GEMM, 4096, 4096, 4096, 1);
    struct prof_timing t;
    double flops = 2.0 * 4096.0 * 4096.0 * 4096.0;
    cr_assert_eq(cu_prof_time_ops(0, &op, 1, &t), MX_OK, "%s", mx_error_message());
    assert_timing(&t, "gemm 4096");
    cr_assert_gt(t.median_s, flops / 2e15, "%g s: faster than 2 PFLOP/s", t.median_s);
    cr_assert_lt(t.median_s, 1.0);
    cr_log_info("gemm 4096^3 fp16: median %.3g s (%.0f TFLOP/s), p10 %.3g, p90 %.3g, %d reps",
                t.median_s, flops / t.median_s / 1e12, t.p10_s, t.p90_s, t.reps);
}

/* Odd and batched shapes, one call: each op gets its own plan and buffers. */
Test(prof_cuda, gemm_shapes)
{
    SKIP_WITHOUT_GPU();
    struct prof_op ops[] = {
        op_of(PROF_OP_GEMM, 1, 3, 5, 1),          op_of(PROF_OP_GEMM, 1, 4096, 4096, 1),
        op_of(PROF_OP_GEMM, 2048, 128, 2048, 32), op_of(PROF_OP_GEMM, 2048, 2048, 128, 32),
        op_of(PROF_OP_GEMM, 1000, 999, 37, 3),
    };
    struct prof_timing t[sizeof(ops) / sizeof(ops[0])];
    size_t n = sizeof(ops) / sizeof(ops[0]);
    cr_assert_eq(cu_prof_time_ops(0, ops, n, t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < n; i++) {
        assert_timing(&t[i], "gemm");
        cr_log_info("gemm %lld x %lld x %lld (count %lld): median %.3g s", (long long)ops[i].m,
                    (long long)ops[i].n, (long long)ops[i].k, (long long)ops[i].count,
                    t[i].median_s);
    }
    /* A batch of 32 does more work than one of its GEMMs alone. */
    struct prof_op one = op_of(PROF_OP_GEMM, 2048, 2048, 128, 1);
    struct prof_timing t1;
    cr_assert_eq(cu_prof_time_ops(0, &one, 1, &t1), MX_OK, "%s", mx_error_message());
    cr_assert_gt(t[3].median_s, t1.median_s);
}

/* Our kernels, on vectorised (columns a multiple of 8) and scalar shapes, rows longer than a block
 * covers, and count > 1. */
Test(prof_cuda, kernels)
{
    SKIP_WITHOUT_GPU();
    struct prof_op ops[] = {
        op_of(PROF_OP_SOFTMAX, 4096, 2048, 0, 2),   op_of(PROF_OP_SOFTMAX, 100, 1000, 0, 1),
        op_of(PROF_OP_SOFTMAX, 7, 3, 0, 1),         op_of(PROF_OP_SOFTMAX, 16, 50000, 0, 1),
        op_of(PROF_OP_LAYERNORM, 8192, 4096, 0, 2), op_of(PROF_OP_LAYERNORM, 33, 1001, 0, 2),
        op_of(PROF_OP_GELU, 8192, 16384, 0, 1),     op_of(PROF_OP_GELU, 3, 5, 0, 1),
        op_of(PROF_OP_ADD, 8192, 4096, 0, 2),       op_of(PROF_OP_ADD, 1, 7, 0, 3),
    };
    static const char *const kind[] = {"gemm", "softmax", "layernorm", "gelu", "add"};
    size_t n = sizeof(ops) / sizeof(ops[0]);
    struct prof_timing t[sizeof(ops) / sizeof(ops[0])];
    cr_assert_eq(cu_prof_time_ops(0, ops, n, t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < n; i++) {
        assert_timing(&t[i], kind[ops[i].kind]);
        double bytes = (ops[i].kind == PROF_OP_ADD ? 3.0 : 2.0) * 2.0 * (double)ops[i].m *
                       (double)ops[i].n * (double)ops[i].count;
        cr_log_info("%s %lld x %lld (count %lld): median %.3g s (%.0f GB/s), %d reps",
                    kind[ops[i].kind], (long long)ops[i].m, (long long)ops[i].n,
                    (long long)ops[i].count, t[i].median_s, bytes / t[i].median_s / 1e9, t[i].reps);
    }
}

Test(prof_cuda, copy_bandwidth)
{
    SKIP_WITHOUT_GPU();
    double bw = 0.0;
    cr_assert_eq(cu_prof_copy_bandwidth(0, (size_t)256 << 20, &bw), MX_OK, "%s",
                 mx_error_message());
    cr_assert(bw > 1e10 && bw < 1e13, "%g bytes/s", bw);
    cr_log_info("device-to-device copy of 256 MiB: %.0f GB/s (read + write)", bw / 1e9);
}

Test(prof_cuda, allreduce_bandwidth)
{
    if (cu_prof_device_count() < 2)
        cr_skip_test("fewer than 2 GPUs are visible");
    double bw = 0.0;
    cr_assert_eq(cu_prof_allreduce_bandwidth(2, (size_t)64 << 20, &bw), MX_OK, "%s",
                 mx_error_message());
    cr_assert(bw > 1e9 && bw < 1e13, "%g bytes/s", bw);
    cr_log_info("all-reduce of 64 MiB over 2 GPUs: bus bandwidth %.0f GB/s", bw / 1e9);
}

Test(prof_cuda, device_name)
{
    SKIP_WITHOUT_GPU();
    char name[256];
    cr_assert_eq(cu_prof_device_name(0, name, sizeof(name)), MX_OK, "%s", mx_error_message());
    cr_assert_str_not_empty(name);
    char small[4];
    cr_assert_eq(cu_prof_device_name(0, small, sizeof(small)), MX_OK);
    cr_assert_eq(strlen(small), 3);
    cr_log_info("device 0: %s", name);
}

Test(prof_cuda, backend)
{
    SKIP_WITHOUT_GPU();
    struct prof_backend *b = NULL;
    cr_assert_eq(prof_backend_cuda(NULL, &b), MX_OK, "%s", mx_error_message());
    cr_assert_str_eq(b->name, "cuda");
    cr_assert_eq(b->elem_bytes, 2);
    struct prof_op ops[] = {op_of(PROF_OP_GEMM, 512, 512, 512, 1),
                            op_of(PROF_OP_LAYERNORM, 512, 1024, 0, 2)};
    struct prof_timing t[2];
    cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
    assert_timing(&t[0], "gemm");
    assert_timing(&t[1], "layernorm");
    /* A bad op is still an error with its message through the backend. */
    ops[1].n = 0;
    assert_fails(b->time_ops(b, ops, 2, t), MX_EINPUT, "must be positive");
    b->free(b);
}
