/* What the CUDA profiler (cu_prof.cu) and the CUDA executor (cu_rt.cu) share, private to cuda/:
 * the check macros that turn CUDA and cuBLASLt failures into mx_error messages, choosing a
 * device, cuBLASLt GEMM plans on row-major fp16 matrices, and our kernels (fill, softmax, layer
 * norm, GELU, add, token embedding) behind host launchers. The kernels themselves live in
 * cu_kernels.cu only, so each is compiled once and both users run the same code.
 *
 * Every array is fp16 device memory on the current device that the caller owns; counts are
 * elements, not bytes. A launcher enqueues its kernel on stream and returns MX_OK or MX_EIO (a
 * bad launch configuration, recorded with mx_error); errors while the kernel runs show at the
 * next synchronisation. */
#ifndef CU_KERNELS_CUH
#define CU_KERNELS_CUH

#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <string.h>

extern "C" {
#include "mx_error.h"
}

/* ---- checks ---- */

/* The call's name: the text of call up to its argument list. */
static inline int cu__name_len(const char *call)
{
    return (int)strcspn(call, "(");
}

/* Each check records "cuda: CALL: REASON" (MX_EIO) in the enclosing function's int rc and jumps to
 * its label fail, the one cleanup path. A failed CUDA call also leaves its error as the thread's
 * "last error", which the next launch check (cudaGetLastError) would report as its own: CU_CHECK
 * clears it once the message is recorded. */
#define CU_CHECK(call)                                                                             \
    do {                                                                                           \
        cudaError_t cu_e_ = (call);                                                                \
        if (cu_e_ != cudaSuccess) {                                                                \
            rc = mx_error(MX_EIO, "cuda: %.*s: %s", cu__name_len(#call), #call,                    \
                          cudaGetErrorString(cu_e_));                                              \
            (void)cudaGetLastError();                                                              \
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

/* A launcher or other call of ours that returns an mx_err code (its message already recorded). */
#define CU_TRY(call)                                                                               \
    do {                                                                                           \
        if ((rc = (call)) < 0)                                                                     \
            goto fail;                                                                             \
    } while (0)

/* cuBLASLt's workspace: 32 MiB, NVIDIA's recommendation for Hopper (ample for older GPUs). */
static const size_t cu_workspace_bytes = (size_t)32 << 20;

/* a * b, or false when it overflows int64_t (a, b >= 0). */
static inline bool cu__mul(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* ---- devices ---- */

/* GPUs visible to this process; 0 when there is no driver or no device. Never fails. */
int cu__device_count(void);

/* Make device current after checking that it exists (MX_EUSAGE "no GPU is visible" or "no GPU
 * d (n visible)" otherwise); *prev gets the caller's device, or -1, for cu__restore_device. */
int cu__use_device(int device, int *prev);
void cu__restore_device(int prev);

/* ---- GEMMs ---- */

/* C[m][n] = alpha A[m][k] op(B) + beta C, batch times, all row-major fp16 with fp32 accumulation.
 * op(B) is B[k][n], or with trans_b the transpose of B stored as [n][k]. ld*: the distance between
 * rows, stride_*: between the batch's matrices (unused when batch is 1), both in elements. align_*:
 * the alignment in bytes that the matrix's pointers, rows and batch strides all keep (a power of
 * two; 0 means 256, what cudaMalloc gives); cuBLASLt picks only algorithms that allow it. */
struct cu_gemm_shape {
    int64_t m, n, k;
    int32_t batch; /* >= 1 */
    bool trans_b;
    int64_t lda, ldb, ldc;
    int64_t stride_a, stride_b, stride_c;
    int align_a, align_b, align_c;
};

/* A planned GEMM: cuBLASLt's descriptors and the algorithm its heuristic chose (owned; release
 * with cu__gemm_release). */
struct cu_gemm {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulHeuristicResult_t heur;
};

/* Plan g for shape on lt (with cu_workspace_bytes of workspace); what names it in messages. On
 * failure g holds what was made, for cu__gemm_release. */
int cu__gemm_plan(cublasLtHandle_t lt, const struct cu_gemm_shape *shape, const char *what,
                  struct cu_gemm *g);
/* Enqueue g on stream: c = alpha a op(b) + beta c, with the workspace of cu_workspace_bytes. */
int cu__gemm_run(cublasLtHandle_t lt, const struct cu_gemm *g, float alpha, const __half *a,
                 const __half *b, float beta, __half *c, void *workspace, cudaStream_t stream);
/* Destroy what g holds and zero it (a zeroed g is fine). */
void cu__gemm_release(struct cu_gemm *g);

/* The largest power of two up to 256 that divides bytes (the alignment of an offset, a row or a
 * stride into memory that cudaMalloc gave). */
int cu__align_bytes(int64_t bytes);

/* ---- kernels ---- */

/* p[i] = center + half_width * u, u uniform in [-1, 1) from a hash of (seed, tensor, i): the same
 * arguments give the same values on any GPU. */
int cu__fill_uniform(__half *p, int64_t n, uint64_t seed, uint64_t tensor, float center,
                     float half_width, cudaStream_t stream);

/* Numerically stable softmax of each of rows rows of cols columns; y may be x. With causal_rows >
 * 0, row r is query r % causal_rows and sees only columns 0 .. r % causal_rows: the others get
 * probability 0 (a causal mask over stacked seq x seq score matrices, causal_rows = seq). */
int cu__softmax(const __half *x, __half *y, int64_t rows, int64_t cols, int64_t causal_rows,
                cudaStream_t stream);

/* y = (x - mean) / sqrt(var + 1e-5) * gamma + beta over each row of cols columns (gamma and beta
 * hold cols each); y may be x. */
int cu__layernorm(const __half *x, const __half *gamma, const __half *beta, __half *y, int64_t rows,
                  int64_t cols, cudaStream_t stream);

/* y = GELU(x) (tanh approximation) over n elements; y may be x. */
int cu__gelu(const __half *x, __half *y, int64_t n, cudaStream_t stream);

/* y = a + b over n elements; y may be a or b. */
int cu__add(const __half *a, const __half *b, __half *y, int64_t n, cudaStream_t stream);

/* x[i][c] = tok[t_i][c] + pos[i][c] for seq positions of hidden columns, token t_i a hash of
 * (token_seed, i) modulo vocab; tok is vocab x hidden, pos and x seq x hidden. */
int cu__embed(const __half *tok, const __half *pos, __half *x, int64_t seq, int64_t hidden,
              int64_t vocab, uint64_t token_seed, cudaStream_t stream);

#endif
