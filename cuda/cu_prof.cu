/* The CUDA profiler behind cu_prof.h: times the ops of prof_ops.h on one GPU in fp16 and measures
 * copy and all-reduce bandwidth.
 *
 * GEMMs run through cuBLASLt with their exact shapes (fp16 in and out, fp32 accumulation, strided
 * batches for count > 1); softmax, layer norm, GELU and add are our own kernels, fp16 in and out
 * with fp32 math. Attention has no op of its own: prof_ops.h splits it into two batched GEMMs and
 * a softmax, and those are what run here. Each op gets its buffers once, filled by a kernel with a
 * small deterministic pattern, then CU_WARMUP untimed iterations, a short untimed pilot that sizes
 * the run, and CU_MIN_REPS to CU_MAX_REPS timed iterations. Every timed iteration lies between its
 * own pair of CUDA events, recorded back to back on one stream with one synchronisation at the end
 * (as nccl-tests do); median, p10 and p90 are nearest-rank quantiles of those times.
 *
 * The bandwidths (nccl-tests' and the CUDA samples' bandwidthTest definitions):
 *   copy        memory traffic of one device-to-device cudaMemcpyAsync of B bytes: 2 B (each byte
 *               read once and written once) over its median time, as bandwidthTest reports; a
 *               copy of B bytes thus takes 2 B / bandwidth, and the figure compares directly with
 *               a datasheet's memory bandwidth (prof_hw.h's mem_bandwidth_bytes_per_s);
 *   all-reduce  nccl-tests' bus bandwidth: B / median time of one out-of-place fp16 sum over all
 *               devices (the algorithm bandwidth), times 2 (n - 1) / n.
 *
 * Every CUDA, cuBLASLt and NCCL call goes through a check macro that records "cuda: CALL: REASON"
 * (MX_EIO) and jumps to the function's one cleanup path, which frees whatever was made; that path
 * is also the way out on success. The caller's current device is restored on the way out. */
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "cu_prof.h"
#include "mx_error.h"
#include "mx_stats.h"
#include "prof_backend.h"
#include "prof_ops.h"
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
/* cuBLASLt's workspace: 32 MiB, NVIDIA's recommendation for Hopper (ample for older GPUs). */
static const size_t cu_workspace_bytes = (size_t)32 << 20;
/* Layer norm's epsilon, as in PyTorch. */
static const float cu_ln_eps = 1e-5f;

/* The call's name: the text of call up to its argument list. */
static int cu__name_len(const char *call)
{
    return (int)strcspn(call, "(");
}

#define CU_CHECK(call)                                                                             \
    do {                                                                                           \
        cudaError_t cu_e_ = (call);                                                                \
        if (cu_e_ != cudaSuccess) {                                                                \
            rc = mx_error(MX_EIO, "cuda: %.*s: %s", cu__name_len(#call), #call,                    \
                          cudaGetErrorString(cu_e_));                                              \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define CU_CHECK_BLAS(call)                                                                        \
    do {                                                                                           \
        cublasStatus_t cu_s_ = (call);                                                             \
        if (cu_s_ != CUBLAS_STATUS_SUCCESS) {                                                      \
            rc = mx_error(MX_EIO, "cuda: %.*s: %s", cu__name_len(#call), #call,                    \
                          cublasLtGetStatusString(cu_s_));                                         \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define CU_CHECK_NCCL(call)                                                                        \
    do {                                                                                           \
        ncclResult_t cu_r_ = (call);                                                               \
        if (cu_r_ != ncclSuccess) {                                                                \
            rc = mx_error(MX_EIO, "cuda: %.*s: %s", cu__name_len(#call), #call,                    \
                          ncclGetErrorString(cu_r_));                                              \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* A kernel launch: its configuration errors show at once, its run-time errors at the next sync. */
#define CU_CHECK_LAUNCH(kernel)                                                                    \
    do {                                                                                           \
        cudaError_t cu_e_ = cudaGetLastError();                                                    \
        if (cu_e_ != cudaSuccess) {                                                                \
            rc =                                                                                   \
                mx_error(MX_EIO, "cuda: %s kernel launch: %s", kernel, cudaGetErrorString(cu_e_)); \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* ---- kernels ---- */

/* Element V of a vector of V halves: V = 8 loads and stores 16 bytes at a time (the row or array
 * must then be 16-byte aligned, which cudaMalloc and a length that is a multiple of 8 give). */
template <int V> __device__ inline void cu__load(const __half *p, float *v)
{
    if constexpr (V == 8) {
        uint4 u = *reinterpret_cast<const uint4 *>(p);
        const __half2 *h = reinterpret_cast<const __half2 *>(&u);
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(h[i]);
            v[2 * i] = f.x;
            v[2 * i + 1] = f.y;
        }
    } else {
        v[0] = __half2float(*p);
    }
}

template <int V> __device__ inline void cu__store(__half *p, const float *v)
{
    if constexpr (V == 8) {
        uint4 u;
        __half2 *h = reinterpret_cast<__half2 *>(&u);
        for (int i = 0; i < 4; i++)
            h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
        *reinterpret_cast<uint4 *>(p) = u;
    } else {
        p[0] = __float2half(v[0]);
    }
}

__device__ inline float cu__warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline float cu__warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The sum (max) of v over the block, returned to every thread. blockDim.x is a multiple of 32. */
__device__ float cu__block_sum(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = cu__warp_sum(v);
    __syncthreads(); /* a previous call may still be reading part[0] */
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = cu__warp_sum(lane < warps ? part[lane] : 0.0f);
        if (lane == 0)
            part[0] = v;
    }
    __syncthreads();
    return part[0];
}

__device__ float cu__block_max(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = cu__warp_max(v);
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = cu__warp_max(lane < warps ? part[lane] : -INFINITY);
        if (lane == 0)
            part[0] = v;
    }
    __syncthreads();
    return part[0];
}

/* p[i] = a small value in [-1/8, 1/8] from a hash of i and seed: not all equal, and no GEMM of
 * any depth overflows fp16. */
__global__ void cu__fill(__half *p, int64_t n, uint32_t seed)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        p[i] = __float2half((float)((int)(h % 17u) - 8) * (1.0f / 64.0f));
    }
}

/* Numerically stable softmax of each of rows rows of cols columns, one block per row: one pass
 * keeps each thread's running max and its sum of exponentials (rescaled when the max grows), the
 * block combines them, a second pass writes. */
template <int V> __global__ void cu__softmax(const __half *x, __half *y, int64_t rows, int64_t cols)
{
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const __half *xr = x + r * cols;
        __half *yr = y + r * cols;
        float m = -INFINITY, s = 0.0f, v[V];
        for (int64_t j = (int64_t)threadIdx.x * V; j < cols; j += (int64_t)blockDim.x * V) {
            cu__load<V>(xr + j, v);
            float cm = v[0];
            for (int i = 1; i < V; i++)
                cm = fmaxf(cm, v[i]);
            float nm = fmaxf(m, cm), cs = 0.0f;
            for (int i = 0; i < V; i++)
                cs += __expf(v[i] - nm);
            s = s * __expf(m - nm) + cs;
            m = nm;
        }
        float row_max = cu__block_max(m);
        float sum = cu__block_sum(m == -INFINITY ? 0.0f : s * __expf(m - row_max));
        float inv = 1.0f / sum;
        for (int64_t j = (int64_t)threadIdx.x * V; j < cols; j += (int64_t)blockDim.x * V) {
            cu__load<V>(xr + j, v);
            for (int i = 0; i < V; i++)
                v[i] = __expf(v[i] - row_max) * inv;
            cu__store<V>(yr + j, v);
        }
    }
}

/* Layer norm of each row: y = (x - mean) / sqrt(var + eps) * gamma + beta, one block per row. The
 * mean and variance come from one pass of sums in fp32 (inputs are fp16, so the cancellation in
 * E[x^2] - E[x]^2 is far below fp16's own rounding). */
template <int V>
__global__ void cu__layernorm(const __half *x, const __half *gamma, const __half *beta, __half *y,
                              int64_t rows, int64_t cols)
{
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const __half *xr = x + r * cols;
        __half *yr = y + r * cols;
        float s = 0.0f, ss = 0.0f, v[V], g[V], b[V];
        for (int64_t j = (int64_t)threadIdx.x * V; j < cols; j += (int64_t)blockDim.x * V) {
            cu__load<V>(xr + j, v);
            for (int i = 0; i < V; i++) {
                s += v[i];
                ss += v[i] * v[i];
            }
        }
        float mean = cu__block_sum(s) / (float)cols;
        float var = fmaxf(cu__block_sum(ss) / (float)cols - mean * mean, 0.0f);
        float rstd = rsqrtf(var + cu_ln_eps);
        for (int64_t j = (int64_t)threadIdx.x * V; j < cols; j += (int64_t)blockDim.x * V) {
            cu__load<V>(xr + j, v);
            cu__load<V>(gamma + j, g);
            cu__load<V>(beta + j, b);
            for (int i = 0; i < V; i++)
                v[i] = (v[i] - mean) * rstd * g[i] + b[i];
            cu__store<V>(yr + j, v);
        }
    }
}

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), over n elements. */
template <int V> __global__ void cu__gelu(const __half *x, __half *y, int64_t n)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x * V;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V; i < n; i += step) {
        float v[V];
        cu__load<V>(x + i, v);
        for (int j = 0; j < V; j++)
            v[j] = 0.5f * v[j] *
                   (1.0f + tanhf(0.7978845608f * (v[j] + 0.044715f * v[j] * v[j] * v[j])));
        cu__store<V>(y + i, v);
    }
}

/* y = a + b over n elements. */
template <int V> __global__ void cu__add(const __half *a, const __half *b, __half *y, int64_t n)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x * V;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * V; i < n; i += step) {
        float u[V], v[V];
        cu__load<V>(a + i, u);
        cu__load<V>(b + i, v);
        for (int j = 0; j < V; j++)
            u[j] += v[j];
        cu__store<V>(y + i, u);
    }
}

/* ---- launch configuration ---- */

/* Threads of a grid-stride block, and blocks at most (beyond, each thread takes several items). */
static const int64_t cu_threads = 256, cu_max_blocks = (int64_t)1 << 20;

/* Blocks for a grid-stride loop over n items of cu_threads threads each. */
static unsigned cu__blocks(int64_t items)
{
    int64_t b = (items + cu_threads - 1) / cu_threads;
    return (unsigned)(b < 1 ? 1 : b > cu_max_blocks ? cu_max_blocks : b);
}

/* Threads for one row of cols columns taken v at a time: a warp at least, 1024 at most. */
static unsigned cu__row_threads(int64_t cols, int v)
{
    int64_t t = (cols / v + 31) / 32 * 32;
    return (unsigned)(t < 32 ? 32 : t > 1024 ? 1024 : t);
}

static unsigned cu__row_blocks(int64_t rows)
{
    return (unsigned)(rows > cu_max_blocks ? cu_max_blocks : rows);
}

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
struct cu_op {
    const struct prof_op *op;
    int64_t rows, cols; /* the op's elements as count * m rows of n columns */
    __half *a, *b, *c;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulHeuristicResult_t heur;
};

static const char *cu__op_name(const struct prof_op *op)
{
    return op->name ? op->name : "(unnamed)";
}

/* a * b, or false when it overflows int64_t (a, b >= 0). */
static bool cu__mul(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* Check op's shape before anything touches the device: what cu__op_setup relies on. */
static int cu__op_check(const struct prof_op *op, size_t i)
{
    int64_t e;
    int kind;
    const char *name = cu__op_name(op);
    /* C lets an enum hold any int; in C++ reading one out of the enum's range is undefined, so
     * the kind is checked as the int that C code stored. */
    static_assert(sizeof(op->kind) == sizeof(kind), "enum prof_op_kind is an int");
    memcpy(&kind, &op->kind, sizeof(kind));
    if (kind < (int)PROF_OP_GEMM || kind > (int)PROF_OP_ADD)
        return mx_error(MX_EINPUT, "cuda: op %zu (%s): unknown kind %d", i, name, kind);
    if (op->m < 1 || op->n < 1 || op->count < 1 || (op->kind == PROF_OP_GEMM && op->k < 1))
        return mx_error(MX_EINPUT,
                        "cuda: op %zu (%s): m, n%s and count must be positive (m %lld, n %lld, "
                        "k %lld, count %lld)",
                        i, name, op->kind == PROF_OP_GEMM ? ", k" : "", (long long)op->m,
                        (long long)op->n, (long long)op->k, (long long)op->count);
    /* Element counts must fit in bytes as int64_t; cuBLASLt's batch count is an int32_t. */
    bool fits = cu__mul(op->count, op->m, &e) && cu__mul(e, op->n, &e) && cu__mul(e, 2, &e);
    if (op->kind == PROF_OP_GEMM)
        fits = fits && cu__mul(op->count, op->k, &e) &&
               cu__mul(e, op->m > op->n ? op->m : op->n, &e) && cu__mul(e, 2, &e) &&
               op->count <= INT32_MAX;
    if (!fits)
        return mx_error(
            MX_EINPUT, "cuda: op %zu (%s): too large (m %lld, n %lld, k %lld, count %lld)", i, name,
            (long long)op->m, (long long)op->n, (long long)op->k, (long long)op->count);
    return MX_OK;
}

static void cu__op_release(struct cu_op *r)
{
    if (r->pref)
        (void)cublasLtMatmulPreferenceDestroy(r->pref);
    if (r->lc)
        (void)cublasLtMatrixLayoutDestroy(r->lc);
    if (r->lb)
        (void)cublasLtMatrixLayoutDestroy(r->lb);
    if (r->la)
        (void)cublasLtMatrixLayoutDestroy(r->la);
    if (r->desc)
        (void)cublasLtMatmulDescDestroy(r->desc);
    (void)cudaFree(r->c);
    (void)cudaFree(r->b);
    (void)cudaFree(r->a);
    memset(r, 0, sizeof(*r));
}

static int cu__alloc_filled(__half **p, int64_t elems, uint32_t seed, cudaStream_t stream)
{
    int rc = MX_OK;
    CU_CHECK(cudaMalloc((void **)p, (size_t)elems * sizeof(__half)));
    cu__fill<<<cu__blocks(elems), cu_threads, 0, stream>>>(*p, elems, seed);
    CU_CHECK_LAUNCH("fill");
fail:
    return rc;
}

/* Row-major C[m][n] = A[m][k] B[k][n] is column-major C^T = B^T A^T: cuBLASLt's "A" is our B (n
 * x k, leading dimension n), its "B" our A (k x m, leading dimension k), C is n x m (leading
 * dimension n); batches follow each other densely. */
static int cu__gemm_setup(struct cu_ctx *ctx, struct cu_op *r)
{
    int rc = MX_OK;
    const struct prof_op *op = r->op;
    uint64_t m = (uint64_t)op->m, n = (uint64_t)op->n, k = (uint64_t)op->k;
    cublasOperation_t no_trans = CUBLAS_OP_N;
    uint64_t ws = cu_workspace_bytes;
    int returned = 0;
    int32_t batch = (int32_t)op->count;
    int64_t stride_a = (int64_t)(n * k), stride_b = (int64_t)(k * m), stride_c = (int64_t)(n * m);

    CU_CHECK_BLAS(cublasLtMatmulDescCreate(&r->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CU_CHECK_BLAS(cublasLtMatmulDescSetAttribute(r->desc, CUBLASLT_MATMUL_DESC_TRANSA, &no_trans,
                                                 sizeof(no_trans)));
    CU_CHECK_BLAS(cublasLtMatmulDescSetAttribute(r->desc, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans,
                                                 sizeof(no_trans)));
    CU_CHECK_BLAS(cublasLtMatrixLayoutCreate(&r->la, CUDA_R_16F, n, k, (int64_t)n));
    CU_CHECK_BLAS(cublasLtMatrixLayoutCreate(&r->lb, CUDA_R_16F, k, m, (int64_t)k));
    CU_CHECK_BLAS(cublasLtMatrixLayoutCreate(&r->lc, CUDA_R_16F, n, m, (int64_t)n));
    if (batch > 1) {
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(r->la, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof(batch)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(r->lb, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof(batch)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(r->lc, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof(batch)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(
            r->la, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_a, sizeof(stride_a)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(
            r->lb, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_b, sizeof(stride_b)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(
            r->lc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_c, sizeof(stride_c)));
    }
    CU_CHECK_BLAS(cublasLtMatmulPreferenceCreate(&r->pref));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        r->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    CU_CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(ctx->lt, r->desc, r->la, r->lb, r->lc, r->lc,
                                                 r->pref, 1, &r->heur, &returned));
    if (returned < 1) {
        rc = mx_error(MX_EIO,
                      "cuda: op %s: cuBLASLt has no fp16 algorithm for GEMM %lld x %lld x %lld "
                      "(count %lld)",
                      cu__op_name(op), (long long)op->m, (long long)op->n, (long long)op->k,
                      (long long)op->count);
        goto fail;
    }
fail:
    return rc;
}

/* Allocate and fill op's buffers (and plan its GEMM). On failure r holds what was made, for
 * cu__op_release. */
static int cu__op_setup(struct cu_ctx *ctx, const struct prof_op *op, struct cu_op *r)
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
    case PROF_OP_GEMM:
        a_elems = op->count * op->m * op->k;
        b_elems = op->count * op->k * op->n;
        break;
    case PROF_OP_LAYERNORM:
        b_elems = 2 * op->n;
        break;
    case PROF_OP_ADD:
        b_elems = c_elems;
        break;
    case PROF_OP_SOFTMAX:
    case PROF_OP_GELU:
        break;
    }
    if ((rc = cu__alloc_filled(&r->a, a_elems, 0x9e3779b9u, ctx->stream)) < 0)
        goto fail;
    if (b_elems && (rc = cu__alloc_filled(&r->b, b_elems, 0x85ebca6bu, ctx->stream)) < 0)
        goto fail;
    if ((rc = cu__alloc_filled(&r->c, c_elems, 0xc2b2ae35u, ctx->stream)) < 0)
        goto fail;
    if (op->kind == PROF_OP_GEMM && (rc = cu__gemm_setup(ctx, r)) < 0)
        goto fail;
fail:
    return rc;
}

/* Enqueue one iteration of r on the context's stream. */
static int cu__op_run(struct cu_ctx *ctx, const struct cu_op *r)
{
    int rc = MX_OK;
    const float alpha = 1.0f, beta = 0.0f;
    int64_t rows = r->rows, cols = r->cols, n = rows * cols;
    bool vec = cols % 8 == 0; /* rows start 16-byte aligned: 8 halves at a time */
    unsigned threads = cu__row_threads(cols, vec ? 8 : 1);
    cudaStream_t s = ctx->stream;

    switch (r->op->kind) {
    case PROF_OP_GEMM:
        CU_CHECK_BLAS(cublasLtMatmul(ctx->lt, r->desc, &alpha, r->b, r->la, r->a, r->lb, &beta,
                                     r->c, r->lc, r->c, r->lc, &r->heur.algo, ctx->workspace,
                                     cu_workspace_bytes, s));
        break;
    case PROF_OP_SOFTMAX:
        if (vec)
            cu__softmax<8><<<cu__row_blocks(rows), threads, 0, s>>>(r->a, r->c, rows, cols);
        else
            cu__softmax<1><<<cu__row_blocks(rows), threads, 0, s>>>(r->a, r->c, rows, cols);
        CU_CHECK_LAUNCH("softmax");
        break;
    case PROF_OP_LAYERNORM:
        if (vec)
            cu__layernorm<8><<<cu__row_blocks(rows), threads, 0, s>>>(r->a, r->b, r->b + cols, r->c,
                                                                      rows, cols);
        else
            cu__layernorm<1><<<cu__row_blocks(rows), threads, 0, s>>>(r->a, r->b, r->b + cols, r->c,
                                                                      rows, cols);
        CU_CHECK_LAUNCH("layer norm");
        break;
    case PROF_OP_GELU:
        if (n % 8 == 0)
            cu__gelu<8><<<cu__blocks(n / 8), cu_threads, 0, s>>>(r->a, r->c, n);
        else
            cu__gelu<1><<<cu__blocks(n), cu_threads, 0, s>>>(r->a, r->c, n);
        CU_CHECK_LAUNCH("gelu");
        break;
    case PROF_OP_ADD:
        if (n % 8 == 0)
            cu__add<8><<<cu__blocks(n / 8), cu_threads, 0, s>>>(r->a, r->b, r->c, n);
        else
            cu__add<1><<<cu__blocks(n), cu_threads, 0, s>>>(r->a, r->b, r->c, n);
        CU_CHECK_LAUNCH("add");
        break;
    }
fail:
    return rc;
}

/* Median, p10 and p90 of n times (sorted in place). */
static void cu__summarise(double *times_s, int n, struct prof_timing *out)
{
    mx_sort_f64(times_s, (size_t)n);
    out->median_s = mx_quantile_sorted(times_s, (size_t)n, 0.5);
    out->p10_s = mx_quantile_sorted(times_s, (size_t)n, 0.1);
    out->p90_s = mx_quantile_sorted(times_s, (size_t)n, 0.9);
    out->reps = n;
}

/* Warm up, size the run from a pilot, then time each iteration between its own pair of events. */
static int cu__op_time(struct cu_ctx *ctx, const struct cu_op *r, struct prof_timing *out)
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
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: not an error here */
        return 0;
    }
    return n;
}

/* Make device current (after checking it exists), remembering the caller's in *prev. */
static int cu__use_device(int device, int *prev)
{
    int rc = MX_OK, n = cu_prof_device_count();
    *prev = -1;
    if (n == 0)
        return mx_error(MX_EUSAGE, "cuda: no GPU is visible");
    if (device < 0 || device >= n)
        return mx_error(MX_EUSAGE, "cuda: no GPU %d (%d visible)", device, n);
    if (cudaGetDevice(prev) != cudaSuccess)
        *prev = -1;
    CU_CHECK(cudaSetDevice(device));
fail:
    return rc;
}

static void cu__restore_device(int prev)
{
    if (prev >= 0)
        (void)cudaSetDevice(prev);
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

extern "C" int cu_prof_time_ops(int device, const struct prof_op *ops, size_t n,
                                struct prof_timing *out)
{
    int rc = MX_OK, prev = -1;
    struct cu_ctx ctx = {};
    struct cu_op r = {};
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
    struct prof_timing t;
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
    struct prof_timing t;
    float ms = 0.0f;
    if (cudaGetDevice(&prev) != cudaSuccess)
        prev = -1;

    for (int d = 0; d < n_devices; d++) {
        devs[d] = d;
        CU_CHECK(cudaSetDevice(d));
        CU_CHECK(cudaStreamCreateWithFlags(&ranks[d].stream, cudaStreamNonBlocking));
        CU_CHECK(cudaMalloc((void **)&ranks[d].send, elems * sizeof(__half)));
        CU_CHECK(cudaMalloc((void **)&ranks[d].recv, elems * sizeof(__half)));
        cu__fill<<<cu__blocks((int64_t)elems), cu_threads, 0, ranks[d].stream>>>(
            ranks[d].send, (int64_t)elems, (uint32_t)d);
        CU_CHECK_LAUNCH("fill");
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
