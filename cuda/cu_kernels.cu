/* The code that the CUDA profiler and the CUDA executor share (cu_kernels.cuh): our fp16 kernels
 * with fp32 math and their launchers, cuBLASLt GEMM plans, and choosing a device.
 *
 * Row kernels (softmax, layer norm) take one block per row; elementwise ones (fill, GELU, add,
 * embedding) run grid-stride loops. Where a row length or element count is a multiple of 8 and
 * the pointers are 16-byte aligned, a thread loads and stores 8 halves (16 bytes) at a time. */
#include "cu_kernels.cuh"

#include <math.h>

/* Layer norm's epsilon, as in PyTorch. */
static const float cu_ln_eps = 1e-5f;

/* ---- devices ---- */

int cu__device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: not an error here */
        return 0;
    }
    return n;
}

int cu__use_device(int device, int *prev)
{
    int rc = MX_OK, n = cu__device_count();
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

void cu__restore_device(int prev)
{
    if (prev >= 0)
        (void)cudaSetDevice(prev);
}

/* ---- device helpers ---- */

/* Element V of a vector of V halves: V = 8 loads and stores 16 bytes at a time (the row or array
 * must then be 16-byte aligned, which the launchers check). */
template <int V> static __device__ inline void cu__load(const __half *p, float *v)
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

template <int V> static __device__ inline void cu__store(__half *p, const float *v)
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

static __device__ inline float cu__warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ inline float cu__warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The sum (max) of v over the block, returned to every thread. blockDim.x is a multiple of 32. */
static __device__ float cu__block_sum(float v)
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

static __device__ float cu__block_max(float v)
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

/* SplitMix64's finaliser over a and b: a well-mixed 64-bit hash of the pair. */
static __device__ inline uint64_t cu__mix64(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- kernels ---- */

static __global__ void cu__fill_kernel(__half *p, int64_t n, uint64_t seed, uint64_t tensor,
                                       float center, float half_width)
{
    uint64_t key = cu__mix64(seed, tensor);
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        /* The top 24 bits: a float in [0, 1) with every value exact. */
        float u = (float)(cu__mix64(key, (uint64_t)i) >> 40) * (1.0f / 16777216.0f);
        p[i] = __float2half(center + half_width * (2.0f * u - 1.0f));
    }
}

/* Softmax of each row over its first live columns (all of them, or up to the query's position
 * under a causal mask), one block per row: one pass keeps each thread's running max and its sum
 * of exponentials (rescaled when the max grows), the block combines them, a second pass writes
 * (0 beyond live). Every thread reads and writes only its own elements, so y may be x. */
template <int V>
static __global__ void cu__softmax_kernel(const __half *x, __half *y, int64_t rows, int64_t cols,
                                          int64_t causal_rows)
{
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const __half *xr = x + r * cols;
        __half *yr = y + r * cols;
        int64_t live = causal_rows > 0 ? r % causal_rows + 1 : cols;
        float m = -INFINITY, s = 0.0f, v[V];
        live = live < cols ? live : cols;
        for (int64_t j = (int64_t)threadIdx.x * V; j < live; j += (int64_t)blockDim.x * V) {
            cu__load<V>(xr + j, v);
            for (int i = 0; i < V; i++)
                if (j + i >= live)
                    v[i] = -INFINITY;
            float cm = v[0]; /* column j < live: finite for finite input */
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
                v[i] = j + i < live ? __expf(v[i] - row_max) * inv : 0.0f;
            cu__store<V>(yr + j, v);
        }
    }
}

/* Layer norm of each row, one block per row. The mean and variance come from one pass of sums in
 * fp32 (inputs are fp16, so the cancellation in E[x^2] - E[x]^2 is far below fp16's own
 * rounding). */
template <int V>
static __global__ void cu__layernorm_kernel(const __half *x, const __half *gamma,
                                            const __half *beta, __half *y, int64_t rows,
                                            int64_t cols)
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

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
template <int V> static __global__ void cu__gelu_kernel(const __half *x, __half *y, int64_t n)
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

template <int V>
static __global__ void cu__add_kernel(const __half *a, const __half *b, __half *y, int64_t n)
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

/* One thread per element of x; each hashes its own row's token (cheaper than another pass). */
static __global__ void cu__embed_kernel(const __half *tok, const __half *pos, __half *x,
                                        int64_t seq, int64_t hidden, int64_t vocab,
                                        uint64_t token_seed)
{
    int64_t n = seq * hidden, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += step) {
        int64_t i = e / hidden, c = e % hidden;
        int64_t t = (int64_t)(cu__mix64(token_seed, (uint64_t)i) % (uint64_t)vocab);
        x[e] = __float2half(__half2float(tok[t * hidden + c]) + __half2float(pos[e]));
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

/* Whether 8 halves at a time fit: n (a row or the whole array) a multiple of 8, p 16-byte
 * aligned. */
static bool cu__vec8(int64_t n, const __half *p)
{
    return n % 8 == 0 && (uintptr_t)p % 16 == 0;
}

/* A launch's configuration errors show at once, its run-time errors at the next sync. */
static int cu__launched(const char *kernel)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return mx_error(MX_EIO, "cuda: %s kernel launch: %s", kernel, cudaGetErrorString(e));
    return MX_OK;
}

/* ---- launchers ---- */

int cu__fill_uniform(__half *p, int64_t n, uint64_t seed, uint64_t tensor, float center,
                     float half_width, cudaStream_t stream)
{
    cu__fill_kernel<<<cu__blocks(n), cu_threads, 0, stream>>>(p, n, seed, tensor, center,
                                                              half_width);
    return cu__launched("fill");
}

int cu__softmax(const __half *x, __half *y, int64_t rows, int64_t cols, int64_t causal_rows,
                cudaStream_t stream)
{
    bool vec = cu__vec8(cols, x) && cu__vec8(cols, y);
    unsigned blocks = cu__row_blocks(rows), threads = cu__row_threads(cols, vec ? 8 : 1);
    if (vec)
        cu__softmax_kernel<8><<<blocks, threads, 0, stream>>>(x, y, rows, cols, causal_rows);
    else
        cu__softmax_kernel<1><<<blocks, threads, 0, stream>>>(x, y, rows, cols, causal_rows);
    return cu__launched("softmax");
}

int cu__layernorm(const __half *x, const __half *gamma, const __half *beta, __half *y, int64_t rows,
                  int64_t cols, cudaStream_t stream)
{
    bool vec =
        cu__vec8(cols, x) && cu__vec8(cols, y) && cu__vec8(cols, gamma) && cu__vec8(cols, beta);
    unsigned blocks = cu__row_blocks(rows), threads = cu__row_threads(cols, vec ? 8 : 1);
    if (vec)
        cu__layernorm_kernel<8><<<blocks, threads, 0, stream>>>(x, gamma, beta, y, rows, cols);
    else
        cu__layernorm_kernel<1><<<blocks, threads, 0, stream>>>(x, gamma, beta, y, rows, cols);
    return cu__launched("layer norm");
}

int cu__gelu(const __half *x, __half *y, int64_t n, cudaStream_t stream)
{
    if (cu__vec8(n, x) && cu__vec8(n, y))
        cu__gelu_kernel<8><<<cu__blocks(n / 8), cu_threads, 0, stream>>>(x, y, n);
    else
        cu__gelu_kernel<1><<<cu__blocks(n), cu_threads, 0, stream>>>(x, y, n);
    return cu__launched("gelu");
}

int cu__add(const __half *a, const __half *b, __half *y, int64_t n, cudaStream_t stream)
{
    if (cu__vec8(n, a) && cu__vec8(n, b) && cu__vec8(n, y))
        cu__add_kernel<8><<<cu__blocks(n / 8), cu_threads, 0, stream>>>(a, b, y, n);
    else
        cu__add_kernel<1><<<cu__blocks(n), cu_threads, 0, stream>>>(a, b, y, n);
    return cu__launched("add");
}

int cu__embed(const __half *tok, const __half *pos, __half *x, int64_t seq, int64_t hidden,
              int64_t vocab, uint64_t token_seed, cudaStream_t stream)
{
    cu__embed_kernel<<<cu__blocks(seq * hidden), cu_threads, 0, stream>>>(tok, pos, x, seq, hidden,
                                                                          vocab, token_seed);
    return cu__launched("embedding");
}

/* ---- GEMMs ---- */

int cu__align_bytes(int64_t bytes)
{
    int a = 256;
    while (a > 1 && bytes % a != 0)
        a >>= 1;
    return a;
}

/* One operand's column-major layout: rows x cols with leading dimension ld, batched by stride. */
static int cu__layout(cublasLtMatrixLayout_t *l, uint64_t rows, uint64_t cols, int64_t ld,
                      int32_t batch, int64_t stride)
{
    int rc = MX_OK;
    CU_CHECK_BLAS(cublasLtMatrixLayoutCreate(l, CUDA_R_16F, rows, cols, ld));
    if (batch > 1) {
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &batch, sizeof(batch)));
        CU_CHECK_BLAS(cublasLtMatrixLayoutSetAttribute(
            *l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
    }
fail:
    return rc;
}

/* The heuristic's best algorithm for g within the workspace and the operands' alignments. */
static int cu__gemm_choose(cublasLtHandle_t lt, const struct cu_gemm_shape *sh, struct cu_gemm *g,
                           int *returned)
{
    int rc = MX_OK;
    cublasLtMatmulPreference_t pref = NULL;
    uint64_t ws = cu_workspace_bytes;
    /* cuBLASLt's "A" is our B and its "B" our A (see cu__gemm_plan). */
    uint32_t align_a = (uint32_t)(sh->align_b ? sh->align_b : 256),
             align_b = (uint32_t)(sh->align_a ? sh->align_a : 256),
             align_c = (uint32_t)(sh->align_c ? sh->align_c : 256);

    CU_CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c)));
    CU_CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof(align_c)));
    CU_CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(lt, g->desc, g->la, g->lb, g->lc, g->lc, pref, 1,
                                                 &g->heur, returned));
fail:
    if (pref)
        (void)cublasLtMatmulPreferenceDestroy(pref);
    return rc;
}

/* Row-major C[m][n] = A[m][k] op(B) is column-major C^T = op(B)^T A^T: cuBLASLt's "A" is our B
 * (stored n x k with leading dimension ldb, or with trans_b stored k x n and transposed), its "B"
 * our A (k x m, leading dimension lda), C is n x m (leading dimension ldc). */
int cu__gemm_plan(cublasLtHandle_t lt, const struct cu_gemm_shape *sh, const char *what,
                  struct cu_gemm *g)
{
    int rc = MX_OK, returned = 0;
    uint64_t m = (uint64_t)sh->m, n = (uint64_t)sh->n, k = (uint64_t)sh->k;
    cublasOperation_t op_a = sh->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = CUBLAS_OP_N;

    memset(g, 0, sizeof(*g));
    CU_CHECK_BLAS(cublasLtMatmulDescCreate(&g->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CU_CHECK_BLAS(
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
    CU_CHECK_BLAS(
        cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
    if (sh->trans_b)
        CU_TRY(cu__layout(&g->la, k, n, sh->ldb, sh->batch, sh->stride_b));
    else
        CU_TRY(cu__layout(&g->la, n, k, sh->ldb, sh->batch, sh->stride_b));
    CU_TRY(cu__layout(&g->lb, k, m, sh->lda, sh->batch, sh->stride_a));
    CU_TRY(cu__layout(&g->lc, n, m, sh->ldc, sh->batch, sh->stride_c));
    CU_TRY(cu__gemm_choose(lt, sh, g, &returned));
    if (returned < 1)
        rc = mx_error(MX_EIO,
                      "cuda: %s: cuBLASLt has no fp16 algorithm for GEMM %lld x %lld x %lld "
                      "(count %d)",
                      what, (long long)sh->m, (long long)sh->n, (long long)sh->k, (int)sh->batch);
fail:
    return rc;
}

int cu__gemm_run(cublasLtHandle_t lt, const struct cu_gemm *g, float alpha, const __half *a,
                 const __half *b, float beta, __half *c, void *workspace, cudaStream_t stream)
{
    int rc = MX_OK;
    CU_CHECK_BLAS(cublasLtMatmul(lt, g->desc, &alpha, b, g->la, a, g->lb, &beta, c, g->lc, c, g->lc,
                                 &g->heur.algo, workspace, cu_workspace_bytes, stream));
fail:
    return rc;
}

void cu__gemm_release(struct cu_gemm *g)
{
    if (g->lc)
        (void)cublasLtMatrixLayoutDestroy(g->lc);
    if (g->lb)
        (void)cublasLtMatrixLayoutDestroy(g->lb);
    if (g->la)
        (void)cublasLtMatrixLayoutDestroy(g->la);
    if (g->desc)
        (void)cublasLtMatmulDescDestroy(g->desc);
    memset(g, 0, sizeof(*g));
}
