/* The cpu profiler backend: times the ops of prof_ops.h on this CPU, on the calling thread.
 *
 * GEMMs are FP32 cblas_sgemm() calls into OpenBLAS, restricted to one thread: the CPU runtime runs
 * each device as a pinned worker thread with single-threaded BLAS, so one thread is what a device
 * costs. Softmax, layer norm, GELU and add are the plain loops of src/kernels (kern_ops.h). Each op
 * gets its buffers once, filled with a fixed pattern (no RNG: the same op times the same data); an
 * op of count > 1 runs count times over the same buffers, so a batched GEMM reuses one A, B and C.
 * That keeps the footprint of one instance, and lets a small batched GEMM run from cache as it
 * would when the batch's matrices are laid out one after another.
 *
 * Timing: one warmup run (page faults, OpenBLAS's buffers), a second when the first took under
 * CPU_SLOW_OP_S, then repetitions timed one by one with mx_wall_s() until at least CPU_MIN_REPS
 * of them took CPU_MIN_TOTAL_S together, or CPU_MAX_REPS; an op slower than CPU_SLOW_OP_S is timed
 * CPU_SLOW_REPS times. The median and spread are nearest-rank quantiles of those repetitions.
 * After every repetition one output element, and after the last the checksum of the whole output,
 * go into a volatile sink, so that no run can be optimised away. Decoders are timed whole, as the
 * runtime runs them, by prof_cpu_decoder.c under the same rule. */
#include "kern_layer.h"
#include "kern_ops.h"
#include "kern_weights.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_int.h"
#include "prof_ops.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_stats.h"
#include "mx_time.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CPU_MIN_REPS 5
#define CPU_MAX_REPS 200
#define CPU_MIN_TOTAL_S 0.05
#define CPU_SLOW_OP_S 0.5
#define CPU_SLOW_REPS 3
/* The most memory one op's buffers may take: larger ones are a mistake in the ops, not a test. */
#define CPU_MAX_OP_BYTES (4.0 * 1024 * 1024 * 1024)

struct prof_cpu {
    struct prof_backend base; /* first: the backend pointer is the struct's */
    const struct prof_hw *hw; /* borrowed, may be NULL (this machine); recorded only */
    volatile double sink;     /* results land here so that the compiler keeps every run */
    void *decoder;            /* prof_cpu_decoder.c's state, or NULL */
};

/* One op's FP32 buffers; unused ones are NULL. in and in2 are the inputs (GEMM: A and B; add: a and
 * b), out the output, gamma and beta the layer norm's parameters. */
struct cpu_buffers {
    float *in, *in2, *out, *gamma, *beta;
    size_t out_len;
};

/* ---- buffers and runs ---- */

static const char *op_name(const struct prof_op *op)
{
    return op->name ? op->name : "(unnamed)";
}

/* Check that op is runnable: positive sizes and buffers within CPU_MAX_OP_BYTES. */
static int cpu_check_op(const struct prof_op *op)
{
    bool gemm = op->kind == PROF_OP_GEMM;
    switch (op->kind) {
    case PROF_OP_GEMM:
    case PROF_OP_SOFTMAX:
    case PROF_OP_LAYERNORM:
    case PROF_OP_GELU:
    case PROF_OP_ADD:
        break;
    default:
        return mx_error(MX_EINPUT, "op %s: unknown kind %d", op_name(op), (int)op->kind);
    }
    if (op->m < 1 || op->n < 1 || (gemm && op->k < 1) || op->count < 1)
        return mx_error(MX_EINPUT,
                        "op %s: sizes and count must be positive (m %lld, n %lld, k %lld, "
                        "count %lld)",
                        op_name(op), (long long)op->m, (long long)op->n, (long long)op->k,
                        (long long)op->count);
    /* In doubles: exact enough to compare with 4 GiB, and no overflow for any int64 sizes. */
    double m = (double)op->m, n = (double)op->n, k = (double)op->k, elems;
    switch (op->kind) {
    case PROF_OP_GEMM:
        elems = m * k + k * n + m * n;
        break;
    case PROF_OP_LAYERNORM:
        elems = 2 * m * n + 2 * n;
        break;
    case PROF_OP_ADD:
        elems = 3 * m * n;
        break;
    default:
        elems = 2 * m * n;
        break;
    }
    double bytes = elems * sizeof(float);
    if (bytes > CPU_MAX_OP_BYTES)
        return mx_error(MX_EINPUT,
                        "op %s: its buffers need %.3g GiB (m %lld, n %lld, k %lld), over the cpu "
                        "backend's limit of 4 GiB",
                        op_name(op), bytes / (1024.0 * 1024 * 1024), (long long)op->m,
                        (long long)op->n, (long long)op->k);
    return MX_OK;
}

/* A deterministic pattern in [-0.5, 0.5]: varied enough that no row is constant, small enough that
 * sums over long GEMM rows stay far from overflow and the values far from denormals. */
static float *cpu_filled(size_t n, size_t seed, float scale, float offset)
{
    float *p = mx_malloc_array(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = offset + scale * ((float)((i * 37 + seed) % 101) - 50.0f) / 100.0f;
    return p;
}

static void cpu_buffers_init(const struct prof_op *op, struct cpu_buffers *b)
{
    size_t m = (size_t)op->m, n = (size_t)op->n, k = (size_t)op->k;
    *b = (struct cpu_buffers){.out_len = m * n};
    b->out = cpu_filled(m * n, 0, 1.0f, 0.0f);
    switch (op->kind) {
    case PROF_OP_GEMM:
        b->in = cpu_filled(m * k, 1, 1.0f, 0.0f);
        b->in2 = cpu_filled(k * n, 2, 1.0f, 0.0f);
        break;
    case PROF_OP_LAYERNORM:
        b->gamma = cpu_filled(n, 3, 0.2f, 1.0f);
        b->beta = cpu_filled(n, 4, 0.2f, 0.0f);
        b->in = cpu_filled(m * n, 1, 1.0f, 0.0f);
        break;
    case PROF_OP_ADD:
        b->in2 = cpu_filled(m * n, 2, 1.0f, 0.0f);
        b->in = cpu_filled(m * n, 1, 1.0f, 0.0f);
        break;
    default:
        b->in = cpu_filled(m * n, 1, 1.0f, 0.0f);
        break;
    }
}

static void cpu_buffers_release(struct cpu_buffers *b)
{
    free(b->in);
    free(b->in2);
    free(b->out);
    free(b->gamma);
    free(b->beta);
    *b = (struct cpu_buffers){0};
}

/* Run op once (its count instances) and return the wall time it took. */
static double cpu_run(const struct prof_op *op, const struct cpu_buffers *b)
{
    size_t m = (size_t)op->m, n = (size_t)op->n;
    double t0 = mx_wall_s();
    for (int64_t c = 0; c < op->count; c++) {
        switch (op->kind) {
        case PROF_OP_GEMM:
            /* cpu_check_op() bounds every size by 2^30 elements: they fit in an int. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)op->m, (int)op->n,
                        (int)op->k, 1.0f, b->in, (int)op->k, b->in2, (int)op->n, 0.0f, b->out,
                        (int)op->n);
            break;
        case PROF_OP_SOFTMAX:
            kern_softmax(b->in, b->out, m, n);
            break;
        case PROF_OP_LAYERNORM:
            kern_layernorm(b->in, b->gamma, b->beta, b->out, m, n);
            break;
        case PROF_OP_GELU:
            kern_gelu(b->in, b->out, m * n);
            break;
        case PROF_OP_ADD:
            kern_add(b->in, b->in2, b->out, m * n);
            break;
        default: /* cpu_check_op() refuses the decoders' ops */
            MX_BUG("op kind %d", (int)op->kind);
        }
    }
    return mx_wall_s() - t0;
}

void prof__cpu_sink(struct prof_backend *self, double x)
{
    ((struct prof_cpu *)self)->sink += x;
}

void **prof__cpu_decoder_state(struct prof_backend *self)
{
    return &((struct prof_cpu *)self)->decoder;
}

void prof__cpu_time(struct prof_backend *self, const struct prof__cpu_subject *s,
                    struct prof_timing *t)
{
    struct prof_cpu *cpu = (struct prof_cpu *)self;
    double sample_s[CPU_MAX_REPS], total_s = 0.0;
    int reps = 0, max_reps = CPU_MAX_REPS;
    double warm_s = s->run(s->ctx);
    if (warm_s < CPU_SLOW_OP_S)
        warm_s = s->run(s->ctx);
    if (warm_s > CPU_SLOW_OP_S)
        max_reps = CPU_SLOW_REPS;
    while (reps < max_reps && !(reps >= CPU_MIN_REPS && total_s >= CPU_MIN_TOTAL_S)) {
        sample_s[reps] = s->run(s->ctx);
        total_s += sample_s[reps];
        cpu->sink += s->sample(s->ctx, (size_t)reps * 7919);
        reps++;
    }
    mx_sort_f64(sample_s, (size_t)reps);
    *t = (struct prof_timing){
        .median_s = mx_quantile_sorted(sample_s, (size_t)reps, 0.5),
        .p10_s = mx_quantile_sorted(sample_s, (size_t)reps, 0.1),
        .p90_s = mx_quantile_sorted(sample_s, (size_t)reps, 0.9),
        .reps = reps,
    };
}

struct op_run {
    const struct prof_op *op;
    struct cpu_buffers b;
};

static double op_run(void *ctx)
{
    struct op_run *r = ctx;
    return cpu_run(r->op, &r->b);
}

static float op_sample(void *ctx, size_t i)
{
    const struct op_run *r = ctx;
    return r->b.out[i % r->b.out_len];
}

static void cpu_time_op(struct prof_cpu *cpu, const struct prof_op *op, struct prof_timing *t)
{
    struct op_run r = {.op = op};
    cpu_buffers_init(op, &r.b);
    prof__cpu_time(&cpu->base, &(struct prof__cpu_subject){op_run, op_sample, &r}, t);
    double checksum = 0.0;
    for (size_t i = 0; i < r.b.out_len; i++)
        checksum += r.b.out[i];
    cpu->sink += checksum;
    cpu_buffers_release(&r.b);
}

/* One whole layer as the CPU runtime runs it (kern_layer.h): rank 0's shard, all-reduces left
 * out (the cost model adds them), on an input reset before every run. */
struct layer_run {
    struct kern_layer_shape shape;
    struct kern_layer layer;
    struct kern_layer_scratch scratch;
    int64_t batch;
    size_t len;
    float *input, *x;
};

static double layer_run(void *ctx)
{
    struct layer_run *r = ctx;
    memcpy(r->x, r->input, r->len * sizeof(float));
    double t0 = mx_wall_s();
    kern_layer_forward(&r->shape, &r->layer, &r->scratch, r->x, r->batch, NULL);
    return mx_wall_s() - t0;
}

static float layer_sample(void *ctx, size_t i)
{
    const struct layer_run *r = ctx;
    return r->x[i % r->len];
}

static int cpu_time_layer(struct prof_backend *self, const struct prof_arch *a, int64_t batch,
                          int op, struct prof_timing *out)
{
    struct prof_cpu *cpu = (struct prof_cpu *)self;
    struct layer_run r = {.shape = prof_layer_shape(a, op, 0),
                          .batch = batch,
                          .len = (size_t)(batch * a->seq * a->hidden)};
    if (a->kind == PROF_ARCH_MOE) /* its MLP is experts: the sum of its ops stands */
        return MX_EUSAGE;
    /* The runtime's weights and an input of unit scale, like its embeddings. */
    kern_layer_init(&r.layer, &r.shape, 1, 0);
    kern_layer_scratch_init(&r.scratch, &r.shape, batch);
    r.input = kern_weight_rows(kern_weight_seed(1, -1, KERN_TOKEN_EMBEDDING), 0, batch * a->seq,
                               a->hidden, 1.0f);
    r.x = mx_malloc_array(r.len, sizeof(float));
    prof__cpu_time(&cpu->base, &(struct prof__cpu_subject){layer_run, layer_sample, &r}, out);
    free(r.x);
    free(r.input);
    kern_layer_scratch_release(&r.scratch);
    kern_layer_release(&r.layer);
    return MX_OK;
}

/* ---- the backend ---- */

static int cpu_time_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                        struct prof_timing *out)
{
    struct prof_cpu *cpu = (struct prof_cpu *)self;
    int err;
    assert(n == 0 || (ops && out));

    /* Check every op first: a bad one fails at once, before minutes of timing. */
    for (size_t i = 0; i < n; i++) {
        err = cpu_check_op(&ops[i]);
        if (err < 0)
            return err;
    }
    for (size_t i = 0; i < n; i++)
        cpu_time_op(cpu, &ops[i], &out[i]);
    return MX_OK;
}

static void cpu_free(struct prof_backend *self)
{
    prof__cpu_decoder_release(((struct prof_cpu *)self)->decoder);
    free(self);
}

int prof_backend_cpu(const struct prof_hw *hw, struct prof_backend **out)
{
    struct prof_cpu *cpu = MX_NEW(struct prof_cpu);
    cpu->base = (struct prof_backend){
        .name = "cpu",
        .elem_bytes = 4,
        .time_ops = cpu_time_ops,
        .time_layer = cpu_time_layer,
        .time_decoder_pass = prof__cpu_time_decoder_pass,
        .decoder_attention = prof__cpu_decoder_attention,
        .free = cpu_free,
    };
    cpu->hw = hw;
    /* Process-wide: every later BLAS call in this process runs on the calling thread alone. */
    openblas_set_num_threads(1);
    *out = &cpu->base;
    return MX_OK;
}
