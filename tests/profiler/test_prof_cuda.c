/* The cuda profiler backend: opening it where it cannot run is a usage error that says why; with a
 * GPU, it times the profiler's ops through cuda/ (whose own tests are tests/cuda). */
#include "fixture.h"
#include "mx_config.h"
#include "mx_error.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_decoder.h"
#include "prof_ops.h"

#include <criterion/criterion.h>
#include <string.h>

static struct prof_op op_of(enum prof_op_kind kind, int64_t m, int64_t n, int64_t k, int64_t count)
{
    return (struct prof_op){.kind = kind, .name = "test", .m = m, .n = n, .k = k, .count = count};
}

Test(prof_cuda, backend_needs_a_gpu)
{
    FX_SKIP_WITH_GPU();
    struct prof_backend *b = (struct prof_backend *)&b;
    fx_expect_error(prof_backend_cuda(NULL, &b), MX_EUSAGE, fx_gpu_unavailable());
    cr_assert_null(b);
}

Test(prof_cuda, backend)
{
    FX_SKIP_WITHOUT_GPU();
    struct prof_backend *b = NULL;
    cr_assert_eq(prof_backend_cuda(NULL, &b), MX_OK, "%s", mx_error_message());
    cr_assert_str_eq(b->name, "cuda");
    cr_assert_eq(b->elem_bytes, 2);
    struct prof_op ops[] = {op_of(PROF_OP_GEMM, 512, 512, 512, 1),
                            op_of(PROF_OP_LAYERNORM, 512, 1024, 0, 2)};
    struct prof_timing t[2];
    cr_assert_eq(b->time_ops(b, ops, 2, t), MX_OK, "%s", mx_error_message());
    for (int i = 0; i < 2; i++)
        cr_assert(t[i].median_s > 0 && t[i].p10_s <= t[i].median_s && t[i].median_s <= t[i].p90_s &&
                      t[i].reps >= 20,
                  "op %d: median %g s, p10 %g, p90 %g, %d reps", i, t[i].median_s, t[i].p10_s,
                  t[i].p90_s, t[i].reps);
    /* A bad op is still an error with its message through the backend. */
    ops[1].n = 0;
    fx_expect_error(b->time_ops(b, ops, 2, t), MX_EINPUT, "must be positive");
    b->free(b);
}

/* A decoder layer's ops and a stage's ends on the GPU: every one timed (attention excepted: the
 * spec's coefficients stand for it). */
Test(prof_cuda, decoder_ops)
{
    FX_SKIP_WITHOUT_GPU();
    struct prof_arch *a = NULL;
    cr_assert_eq(prof_arch_find(fx_source_path("data/models"), "tiny-llama-2l-256", &a), MX_OK,
                 "%s", mx_error_message());
    struct prof_backend *b = NULL;
    cr_assert_eq(prof_backend_cuda(NULL, &b), MX_OK, "%s", mx_error_message());
    cr_assert_not_null(b->time_decoder_ops);
    struct prof_op ops[PROF_DECODER_LAYER_OPS + PROF_DECODER_END_OPS];
    struct prof_timing t[PROF_DECODER_LAYER_OPS + PROF_DECODER_END_OPS];
    size_t n = prof_decoder_layer_ops(a, 16, 2, ops);
    n += prof_decoder_end_ops(a, 16, 2, true, true, ops + n);
    cr_assert_eq(b->time_decoder_ops(b, ops, n, t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < n; i++)
        cr_assert(t[i].median_s > 0 && t[i].reps >= 20, "%s: %g s", ops[i].name, t[i].median_s);
    b->free(b);
    prof_arch_free(a);
}
