/* The CUDA profiler behind cu_prof.h: times ops (struct cu_op) on one GPU in fp16 and measures
 * copy and all-reduce bandwidth.
 *
 * GEMMs run through cuBLASLt with their exact shapes (fp16 in and out, fp32 accumulation, strided
 * batches for count > 1); softmax, layer norm, GELU and add are our own kernels, fp16 in and out
 * with fp32 math, shared with the executor cu_rt.cu through cu_kernels.cuh. Attention has no op
 * of its own: the profiler splits it into two batched GEMMs and a softmax, and those are what run
 * here. Each op gets its buffers once, filled by a kernel with a small deterministic pattern,
 * then CU_WARMUP untimed iterations, a short untimed pilot that sizes the run, and CU_MIN_REPS to
 * CU_MAX_REPS timed iterations. Every timed iteration lies between its own pair of CUDA events,
 * recorded back to back on one stream with one synchronisation at the end (as nccl-tests do);
 * median, p10 and p90 are nearest-rank quantiles of those times.
 *
 * The bandwidths (nccl-tests' and the CUDA samples' bandwidthTest definitions):
 *   copy        memory traffic of one device-to-device cudaMemcpyAsync of B bytes: 2 B (each byte
 *               read once and written once) over its median time, as bandwidthTest reports; a
 *               copy of B bytes thus takes 2 B / bandwidth, and the figure compares directly with
 *               a datasheet's memory bandwidth (a hardware spec's mem_bandwidth_bytes_per_s);
 *   all-reduce  nccl-tests' bus bandwidth: B / median time of one out-of-place fp16 sum over all
 *               devices (the algorithm bandwidth), times 2 (n - 1) / n.
 *
 * Every CUDA, cuBLASLt and NCCL call goes through a check macro that records "cuda: CALL: REASON"
 * (MX_EIO) and jumps to the function's one cleanup path, which frees whatever was made; that path
 * is also the way out on success. The caller's current device is restored on the way out. */
#include "cu_kernels.cuh"

#include <nccl.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "cu_prof.h"
#include "mx_error.h"
#include "mx_stats.h"
}

enum {
    CU_WARMUP = 3,       /* untimed iterations before anything is timed */
    CU_PILOT = 3,        /* untimed iterations timed as one, to choose the number of reps */
    CU_MIN_REPS = 20,    /* timed iterations at least ... */
    CU_MAX_REPS = 1000,  /* ... and at most */
    CU_BW_REPS = 20,     /* timed iterations of a bandwidth measurement */
    CU_MAX_DEVICES = 64, /* all-reduce: devices at most */
};

/* Timed iterations aim at this much GPU time per op (within the reps bounds above). */
static const double cu_target_s = 0.1;
/* The fill of every op's buffers (cu__fill_uniform): values in [-1/8, 1/8), not all equal, and
 * no GEMM of any depth overflows fp16. */
static const uint64_t cu_fill_seed = 0x9e3779b97f4a7c15ull;
static const float cu_fill_half_width = 0.125f;

#define CU_CHECK_NCCL(call)                                                                        \
    do {                                                                                           \
        ncclResult_t cu_r_ = (call);                                                               \
        if (cu_r_ != ncclSuccess) {                                                                \
            rc = mx_error(MX_EIO, "cuda: %.*s: %s", cu__name_len(#call), #call,                    \
                          ncclGetErrorString(cu_r_));                                              \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* ---- one op ---- */

/* What timing n ops shares: the device, a stream, cuBLASLt and its workspace. */
struct cu_ctx {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;
};

/* One op set up to run: its buffers (device memory, owned) and, for a GEMM, its cuBLASLt plan.
 * GEMM: a, b, c are A, B and C. Softmax, GELU: a in, c out. Layer norm: a in, b gamma then beta,
 * c out. Add: a + b into c. */
struct cu_op_run {
    const struct cu_op *op;
    int64_t rows, cols; /* the op's elements as count * m rows of n columns */
    __half *a, *b, *c;
    struct cu_gemm gemm;
};

static const char *cu__op_name(const struct cu_op *op)
{
    return op->name ? op->name : "(unnamed)";
}

/* Check op's shape before anything touches the device: what cu__op_setup relies on. */
static int cu__op_check(const struct cu_op *op, size_t i)
{
    int64_t e;
    int kind;
    const char *name = cu__op_name(op);
    /* C lets an enum hold any int; in C++ reading one out of the enum's range is undefined, so
     * the kind is checked as the int that C code stored. */
    static_assert(sizeof(op->kind) == sizeof(kind), "enum cu_op_kind is an int");
    memcpy(&kind, &op->kind, sizeof(kind));
    if (kind < (int)CU_OP_GEMM || kind > (int)CU_OP_ADD)
        return mx_error(MX_EINPUT, "cuda: op %zu (%s): unknown kind %d", i, name, kind);
    if (op->m < 1 || op->n < 1 || op->count < 1 || (op->kind == CU_OP_GEMM && op->k < 1))
        return mx_error(MX_EINPUT,
                        "cuda: op %zu (%s): m, n%s and count must be positive (m %lld, n %lld, "
                        "k %lld, count %lld)",
                        i, name, op->kind == CU_OP_GEMM ? ", k" : "", (long long)op->m,
                        (long long)op->n, (long long)op->k, (long long)op->count);
    /* Element counts must fit in bytes as int64_t; cuBLASLt's batch count is an int32_t. */
    bool fits = cu__mul(op->count, op->m, &e) && cu__mul(e, op->n, &e) && cu__mul(e, 2, &e);
    if (op->kind == CU_OP_GEMM)
        fits = fits && cu__mul(op->count, op->k, &e) &&
               cu__mul(e, op->m > op->n ? op->m : op->n, &e) && cu__mul(e, 2, &e) &&
               op->count <= INT32_MAX;
    if (!fits)
        return mx_error(
            MX_EINPUT, "cuda: op %zu (%s): too large (m %lld, n %lld, k %lld, count %lld)", i, name,
            (long long)op->m, (long long)op->n, (long long)op->k, (long long)op->count);
    return MX_OK;
}

static void cu__op_release(struct cu_op_run *r)
{
    cu__gemm_release(&r->gemm);
    (void)cudaFree(r->c);
    (void)cudaFree(r->b);
    (void)cudaFree(r->a);
    memset(r, 0, sizeof(*r));
}

/* *p = elems newly allocated halves, filled as buffer number buffer of the op. */
static int cu__alloc_filled(__half **p, int64_t elems, uint64_t buffer, cudaStream_t stream)
{
    int rc = MX_OK;
    CU_CHECK(cudaMalloc((void **)p, (size_t)elems * sizeof(__half)));
    CU_TRY(cu__fill_uniform(*p, elems, cu_fill_seed, buffer, 0.0f, cu_fill_half_width, stream));
fail:
    return rc;
}

/* The op's GEMM on dense row-major matrices, batches following each other. */
static int cu__gemm_setup(struct cu_ctx *ctx, struct cu_op_run *r)
{
    const struct cu_op *op = r->op;
    char what[64];
    struct cu_gemm_shape sh = {};
    sh.m = op->m;
    sh.n = op->n;
    sh.k = op->k;
    sh.batch = (int32_t)op->count;
    sh.lda = op->k;
    sh.ldb = op->n;
    sh.ldc = op->n;
    sh.stride_a = op->m * op->k;
    sh.stride_b = op->k * op->n;
    sh.stride_c = op->m * op->n;
    snprintf(what, sizeof(what), "op %s", cu__op_name(op));
    return cu__gemm_plan(ctx->lt, &sh, what, &r->gemm);
}

/* Allocate and fill op's buffers (and plan its GEMM). On failure r holds what was made, for
 * cu__op_release. */
static int cu__op_setup(struct cu_ctx *ctx, const struct cu_op *op, struct cu_op_run *r)
{
    int rc = MX_OK;
    int64_t a_elems, b_elems, c_elems;
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->rows = op->count * op->m;
    r->cols = op->n;
    c_elems = r->rows * r->cols;
    a_elems = c_elems;
    b_elems = 0;
    switch (op->kind) {
    case CU_OP_GEMM:
        a_elems = op->count * op->m * op->k;
        b_elems = op->count * op->k * op->n;
        break;
    case CU_OP_LAYERNORM:
        b_elems = 2 * op->n;
        break;
    case CU_OP_ADD:
        b_elems = c_elems;
        break;
    case CU_OP_SOFTMAX:
    case CU_OP_GELU:
        break;
    }
    CU_TRY(cu__alloc_filled(&r->a, a_elems, 0, ctx->stream));
    if (b_elems)
        CU_TRY(cu__alloc_filled(&r->b, b_elems, 1, ctx->stream));
    CU_TRY(cu__alloc_filled(&r->c, c_elems, 2, ctx->stream));
    if (op->kind == CU_OP_GEMM)
        CU_TRY(cu__gemm_setup(ctx, r));
fail:
    return rc;
}

/* Enqueue one iteration of r on the context's stream. */
static int cu__op_run(struct cu_ctx *ctx, const struct cu_op_run *r)
{
    int64_t rows = r->rows, cols = r->cols, n = rows * cols;
    cudaStream_t s = ctx->stream;

    switch (r->op->kind) {
    case CU_OP_GEMM:
        return cu__gemm_run(ctx->lt, &r->gemm, 1.0f, r->a, r->b, 0.0f, r->c, ctx->workspace, s);
    case CU_OP_SOFTMAX:
        return cu__softmax(r->a, r->c, rows, cols, 0, s);
    case CU_OP_LAYERNORM:
        return cu__layernorm(r->a, r->b, r->b + cols, r->c, rows, cols, s);
    case CU_OP_GELU:
        return cu__gelu(r->a, r->c, n, s);
    case CU_OP_ADD:
        return cu__add(r->a, r->b, r->c, n, s);
    }
    return mx_error(MX_EINPUT, "cuda: op %s: unknown kind", cu__op_name(r->op)); /* checked */
}

/* Median, p10 and p90 of n times (sorted in place). */
static void cu__summarise(double *times_s, int n, struct cu_timing *out)
{
    mx_sort_f64(times_s, (size_t)n);
    out->median_s = mx_quantile_sorted(times_s, (size_t)n, 0.5);
    out->p10_s = mx_quantile_sorted(times_s, (size_t)n, 0.1);
    out->p90_s = mx_quantile_sorted(times_s, (size_t)n, 0.9);
    out->reps = n;
}

/* Warm up, size the run from a pilot, then time each iteration between its own pair of events. */
static int cu__op_time(struct cu_ctx *ctx, const struct cu_op_run *r, struct cu_timing *out)
{
    int rc = MX_OK;
    cudaEvent_t ev[CU_MAX_REPS + 1] = {};
    double times_s[CU_MAX_REPS];
    float ms = 0.0f;
    double pilot_s;
    int reps = 0, made = 0;

    for (int i = 0; i < CU_WARMUP; i++)
        if ((rc = cu__op_run(ctx, r)) < 0)
            goto fail;
    CU_CHECK(cudaEventCreate(&ev[0]));
    CU_CHECK(cudaEventCreate(&ev[1]));
    made = 2;
    CU_CHECK(cudaEventRecord(ev[0], ctx->stream));
    for (int i = 0; i < CU_PILOT; i++)
        if ((rc = cu__op_run(ctx, r)) < 0)
            goto fail;
    CU_CHECK(cudaEventRecord(ev[1], ctx->stream));
    CU_CHECK(cudaEventSynchronize(ev[1]));
    CU_CHECK(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    pilot_s = ms * 1e-3 / CU_PILOT;
    reps = pilot_s > cu_target_s / CU_MIN_REPS   ? CU_MIN_REPS
           : pilot_s < cu_target_s / CU_MAX_REPS ? CU_MAX_REPS
                                                 : (int)(cu_target_s / pilot_s);
    for (; made <= reps; made++)
        CU_CHECK(cudaEventCreate(&ev[made]));

    CU_CHECK(cudaEventRecord(ev[0], ctx->stream));
    for (int i = 0; i < reps; i++) {
        if ((rc = cu__op_run(ctx, r)) < 0)
            goto fail;
        CU_CHECK(cudaEventRecord(ev[i + 1], ctx->stream));
    }
    CU_CHECK(cudaEventSynchronize(ev[reps]));
    for (int i = 0; i < reps; i++) {
        CU_CHECK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
        times_s[i] = ms * 1e-3;
    }
    cu__summarise(times_s, reps, out);
fail:
    for (int i = 0; i < made; i++)
        (void)cudaEventDestroy(ev[i]);
    return rc;
}

/* ---- the API ---- */

extern "C" int cu_prof_device_count(void)
{
    return cu__device_count();
}

extern "C" int cu_prof_device_name(int device, char *buf, size_t len)
{
    int rc = MX_OK, prev = -1;
    cudaDeviceProp prop;
    if (!buf || len == 0)
        return mx_error(MX_EUSAGE, "cuda: cu_prof_device_name: no buffer");
    buf[0] = '\0';
    if ((rc = cu__use_device(device, &prev)) < 0)
        return rc;
    CU_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(buf, len, "%s", prop.name);
fail:
    cu__restore_device(prev);
    return rc;
}

extern "C" int cu_prof_time_ops(int device, const struct cu_op *ops, size_t n,
                                struct cu_timing *out)
{
    int rc = MX_OK, prev = -1;
    struct cu_ctx ctx = {};
    struct cu_op_run r = {};
    if (!ops || !out)
        return mx_error(MX_EUSAGE, "cuda: cu_prof_time_ops: ops and out must not be NULL");
    if (n == 0)
        return mx_error(MX_EUSAGE, "cuda: cu_prof_time_ops: no ops to time");
    for (size_t i = 0; i < n; i++)
        if ((rc = cu__op_check(&ops[i], i)) < 0)
            return rc;
    if ((rc = cu__use_device(device, &prev)) < 0)
        return rc;

    CU_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    CU_CHECK_BLAS(cublasLtCreate(&ctx.lt));
    CU_CHECK(cudaMalloc(&ctx.workspace, cu_workspace_bytes));
    for (size_t i = 0; i < n; i++) {
        if ((rc = cu__op_setup(&ctx, &ops[i], &r)) < 0)
            goto fail;
        if ((rc = cu__op_time(&ctx, &r, &out[i])) < 0)
            goto fail;
        CU_CHECK(cudaStreamSynchronize(ctx.stream)); /* before its buffers go */
        cu__op_release(&r);
    }
fail:
    if (rc < 0 && ctx.stream)
        (void)cudaStreamSynchronize(ctx.stream); /* nothing may still use what is freed below */
    cu__op_release(&r);
    (void)cudaFree(ctx.workspace);
    if (ctx.lt)
        (void)cublasLtDestroy(ctx.lt);
    if (ctx.stream)
        (void)cudaStreamDestroy(ctx.stream);
    cu__restore_device(prev);
    return rc;
}

extern "C" int cu_prof_copy_bandwidth(int device, size_t bytes, double *bytes_per_s)
{
    int rc = MX_OK, prev = -1;
    cudaStream_t stream = NULL;
    void *src = NULL, *dst = NULL;
    cudaEvent_t ev[CU_BW_REPS + 1] = {};
    double times_s[CU_BW_REPS];
    struct cu_timing t;
    float ms = 0.0f;
    if (!bytes_per_s)
        return mx_error(MX_EUSAGE, "cuda: cu_prof_copy_bandwidth: bytes_per_s must not be NULL");
    if (bytes == 0)
        return mx_error(MX_EUSAGE, "cuda: copy bandwidth: bytes must be positive");
    if ((rc = cu__use_device(device, &prev)) < 0)
        return rc;

    CU_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CU_CHECK(cudaMalloc(&src, bytes));
    CU_CHECK(cudaMalloc(&dst, bytes));
    CU_CHECK(cudaMemsetAsync(src, 0x3c, bytes, stream));
    for (int i = 0; i <= CU_BW_REPS; i++)
        CU_CHECK(cudaEventCreate(&ev[i]));
    for (int i = 0; i < CU_WARMUP; i++)
        CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    CU_CHECK(cudaEventRecord(ev[0], stream));
    for (int i = 0; i < CU_BW_REPS; i++) {
        CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
        CU_CHECK(cudaEventRecord(ev[i + 1], stream));
    }
    CU_CHECK(cudaEventSynchronize(ev[CU_BW_REPS]));
    for (int i = 0; i < CU_BW_REPS; i++) {
        CU_CHECK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
        times_s[i] = ms * 1e-3;
    }
    cu__summarise(times_s, CU_BW_REPS, &t);
    if (!(t.median_s > 0.0)) {
        rc = mx_error(MX_EIO, "cuda: copy of %zu bytes took no measurable time", bytes);
        goto fail;
    }
    *bytes_per_s = 2.0 * (double)bytes / t.median_s; /* read once and written once */
fail:
    if (stream)
        (void)cudaStreamSynchronize(stream);
    for (int i = 0; i <= CU_BW_REPS; i++)
        if (ev[i])
            (void)cudaEventDestroy(ev[i]);
    (void)cudaFree(dst);
    (void)cudaFree(src);
    if (stream)
        (void)cudaStreamDestroy(stream);
    cu__restore_device(prev);
    return rc;
}

/* What each device of an all-reduce holds. */
struct cu_rank {
    ncclComm_t comm;
    cudaStream_t stream;
    __half *send, *recv;
    cudaEvent_t ev[CU_BW_REPS + 1];
};

/* One all-reduce over every rank: NCCL's group calls let one thread drive them all. */
static int cu__allreduce(struct cu_rank *ranks, int n, size_t elems, bool timed, int iter)
{
    int rc = MX_OK;
    CU_CHECK_NCCL(ncclGroupStart());
    for (int d = 0; d < n; d++)
        CU_CHECK_NCCL(ncclAllReduce(ranks[d].send, ranks[d].recv, elems, ncclFloat16, ncclSum,
                                    ranks[d].comm, ranks[d].stream));
    CU_CHECK_NCCL(ncclGroupEnd());
    if (timed)
        for (int d = 0; d < n; d++) {
            CU_CHECK(cudaSetDevice(d));
            CU_CHECK(cudaEventRecord(ranks[d].ev[iter + 1], ranks[d].stream));
        }
fail:
    return rc;
}

/* The median time of an out-of-place fp16 sum of elems over devices 0 .. n_devices - 1, all
 * visible (n_devices = 1 runs too: NCCL then only copies, which is how a one-GPU machine tests
 * this code). */
static int cu__allreduce_time(int n_devices, size_t elems, double *median_s)
{
    int rc = MX_OK, prev = -1;
    struct cu_rank ranks[CU_MAX_DEVICES] = {};
    int devs[CU_MAX_DEVICES];
    ncclComm_t comms[CU_MAX_DEVICES] = {};
    bool comms_made = false;
    double times_s[CU_BW_REPS];
    struct cu_timing t;
    float ms = 0.0f;
    if (cudaGetDevice(&prev) != cudaSuccess)
        prev = -1;

    for (int d = 0; d < n_devices; d++) {
        devs[d] = d;
        CU_CHECK(cudaSetDevice(d));
        CU_CHECK(cudaStreamCreateWithFlags(&ranks[d].stream, cudaStreamNonBlocking));
        CU_CHECK(cudaMalloc((void **)&ranks[d].send, elems * sizeof(__half)));
        CU_CHECK(cudaMalloc((void **)&ranks[d].recv, elems * sizeof(__half)));
        CU_TRY(cu__fill_uniform(ranks[d].send, (int64_t)elems, cu_fill_seed, (uint64_t)d, 0.0f,
                                cu_fill_half_width, ranks[d].stream));
        for (int i = 0; i <= CU_BW_REPS; i++)
            CU_CHECK(cudaEventCreate(&ranks[d].ev[i]));
    }
    CU_CHECK_NCCL(ncclCommInitAll(comms, n_devices, devs));
    comms_made = true;
    for (int d = 0; d < n_devices; d++)
        ranks[d].comm = comms[d];

    for (int i = 0; i < CU_WARMUP; i++)
        if ((rc = cu__allreduce(ranks, n_devices, elems, false, 0)) < 0)
            goto fail;
    for (int d = 0; d < n_devices; d++) {
        CU_CHECK(cudaSetDevice(d));
        CU_CHECK(cudaEventRecord(ranks[d].ev[0], ranks[d].stream));
    }
    for (int i = 0; i < CU_BW_REPS; i++)
        if ((rc = cu__allreduce(ranks, n_devices, elems, true, i)) < 0)
            goto fail;
    /* An iteration ends when its slowest device is done: the max over devices. */
    for (int i = 0; i < CU_BW_REPS; i++)
        times_s[i] = 0.0;
    for (int d = 0; d < n_devices; d++) {
        CU_CHECK(cudaSetDevice(d));
        CU_CHECK(cudaEventSynchronize(ranks[d].ev[CU_BW_REPS]));
        for (int i = 0; i < CU_BW_REPS; i++) {
            CU_CHECK(cudaEventElapsedTime(&ms, ranks[d].ev[i], ranks[d].ev[i + 1]));
            times_s[i] = fmax(times_s[i], ms * 1e-3);
        }
    }
    cu__summarise(times_s, CU_BW_REPS, &t);
    if (!(t.median_s > 0.0)) {
        rc = mx_error(MX_EIO, "cuda: all-reduce of %zu fp16 took no measurable time", elems);
        goto fail;
    }
    *median_s = t.median_s;
fail:
    for (int d = 0; d < n_devices; d++) {
        if (cudaSetDevice(d) != cudaSuccess)
            continue;
        if (ranks[d].stream)
            (void)cudaStreamSynchronize(ranks[d].stream);
    }
    if (comms_made)
        for (int d = 0; d < n_devices; d++)
            if (comms[d])
                (void)ncclCommDestroy(comms[d]);
    for (int d = 0; d < n_devices; d++) {
        if (cudaSetDevice(d) != cudaSuccess)
            continue;
        for (int i = 0; i <= CU_BW_REPS; i++)
            if (ranks[d].ev[i])
                (void)cudaEventDestroy(ranks[d].ev[i]);
        (void)cudaFree(ranks[d].recv);
        (void)cudaFree(ranks[d].send);
        if (ranks[d].stream)
            (void)cudaStreamDestroy(ranks[d].stream);
    }
    cu__restore_device(prev);
    return rc;
}

extern "C" int cu_prof_allreduce_bandwidth(int n_devices, size_t bytes, double *bus_bytes_per_s)
{
    int rc, visible;
    size_t elems = bytes / sizeof(__half);
    double median_s = 0.0;
    if (!bus_bytes_per_s)
        return mx_error(MX_EUSAGE,
                        "cuda: cu_prof_allreduce_bandwidth: bus_bytes_per_s must not be NULL");
    if (n_devices < 2)
        return mx_error(MX_EUSAGE, "cuda: all-reduce bandwidth needs 2 or more GPUs, not %d",
                        n_devices);
    if (n_devices > CU_MAX_DEVICES)
        return mx_error(MX_EUSAGE, "cuda: all-reduce bandwidth: %d GPUs, %d at most", n_devices,
                        CU_MAX_DEVICES);
    if (elems == 0)
        return mx_error(MX_EUSAGE, "cuda: all-reduce bandwidth: %zu bytes is less than one fp16",
                        bytes);
    visible = cu_prof_device_count();
    if (visible < n_devices)
        return mx_error(MX_EUSAGE, "cuda: all-reduce bandwidth over %d GPUs: %d visible", n_devices,
                        visible);
    if ((rc = cu__allreduce_time(n_devices, elems, &median_s)) < 0)
        return rc;
    *bus_bytes_per_s =
        (double)(elems * sizeof(__half)) / median_s * 2.0 * (n_devices - 1) / n_devices;
    return MX_OK;
}
