/* The CUDA executor behind cu_rt.h: one pipeline stage of pre-layer-norm transformer layers on one
 * GPU, in fp16 with fp32 accumulation, for one request of seq tokens at a time.
 *
 * A stage owns two device allocations: its weights (every tensor 256-byte aligned, drawn on the
 * GPU from a hash of the seed and the tensor's number) and the scratch of one request. Its GEMMs
 * are planned once, at creation, since every layer has the same shapes; attention reads Q, K and
 * V in place in the packed qkv buffer through strided batched cuBLASLt GEMMs over the heads, so
 * no kernel reshuffles them. The kernels (softmax with its causal mask, layer norm, GELU, add,
 * embedding) are the profiler's, from cu_kernels.cu: a stage runs the ops the profiler times.
 *
 * The residual stream lives in the output buffer: a stage embeds into it or copies its input into
 * it, then every layer updates it in place. Copies between buffers and to the host go through
 * the calling thread's default stream (cudaStreamPerThread) and wait for it, so a copy neither
 * waits for nor delays the stages that share its GPU. Failures follow cu_kernels.cuh: one
 * message (MX_EIO for CUDA, MX_EINPUT for bad shapes, MX_EUSAGE for bad calls), one cleanup path,
 * and the caller's current device restored. */
#include "cu_kernels.cuh"

#include <atomic>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* mx_alloc.h is C; C++ spells _Noreturn [[noreturn]]. */
#define _Noreturn [[noreturn]]
extern "C" {
#include "cu_rt.h"
#include "mx_alloc.h"
#include "mx_error.h"
}
#undef _Noreturn

/* Element counts past this (2 TiB of fp16) are refused as bad input: no GPU holds them, and every
 * product of shapes below it fits in int64_t. */
static const double cu_rt_max_elems = 1099511627776.0;
/* Weights are center + half_width * u, u uniform in [-1, 1): embeddings and layer-norm parameters
 * use these; matrices use 1 / sqrt(fan_in). */
static const float cu_rt_embed_spread = 0.5f, cu_rt_gamma_spread = 0.1f, cu_rt_beta_spread = 0.1f;

enum {
    CU_RT_ALIGN_ELEMS = 128, /* every tensor starts 256 bytes into its allocation */
    CU_RT_MAX_PEERS = 64,    /* GPUs whose peer access is enabled once, tracked */
};

/* The tensors of one layer, in their order in memory and in numbering (seeds). */
enum {
    CU_LN1_G,
    CU_LN1_B,
    CU_WQKV, /* hidden x 3 hidden: Q, K, V side by side, head h at columns h * (hidden / heads) */
    CU_WO,   /* hidden x hidden */
    CU_LN2_G,
    CU_LN2_B,
    CU_W1, /* hidden x ffn */
    CU_W2, /* ffn x hidden */
    CU_LAYER_TENSORS,
};

/* Tensor numbers: the embeddings, the final layer norm's, then each layer's by the model's layer
 * number (layer l's tensor t is CU_T_LAYERS + l * CU_LAYER_TENSORS + t), so that a tensor's
 * number does not depend on where the model is split. */
enum { CU_T_TOKENS, CU_T_POSITIONS, CU_T_FINAL_GAMMA, CU_T_FINAL_BETA, CU_T_LAYERS };

struct cu_rt_act {
    int gpu;
    int64_t capacity;    /* elements allocated */
    int64_t seq, hidden; /* the shape of what it holds now (a stage's output or a copy) */
    __half *data;        /* capacity elements, owned */
};

struct cu_rt_stage {
    int gpu;
    struct cu_rt_shape shape;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace; /* cu_workspace_bytes for cuBLASLt */
    cudaEvent_t start, stop;
    /* Weights, one allocation (owned): [tokens vocab x hidden, positions seq x hidden] (first
     * stage), n_layers layers of layer_elems each (tensor t at layer_off[t], elements), [final
     * gamma, beta] (last stage). The other pointers point into it; NULL where the stage has none.
     */
    __half *weights;
    __half *tokens, *positions, *layers, *final_gamma, *final_beta;
    int64_t layer_elems, layer_off[CU_LAYER_TENSORS];
    /* Scratch of one request, one allocation (owned) that the pointers below share: hn seq x
     * hidden (layer norm out), qkv seq x 3 hidden, scores heads x seq x seq (then probabilities),
     * ctx seq x hidden, y seq x hidden (projection out), mlp seq x ffn. */
    __half *scratch;
    __half *hn, *qkv, *scores, *ctx, *y, *mlp;
    struct cu_gemm g_qkv, g_scores, g_values, g_attn_out, g_mlp_in, g_mlp_out;
};

/* A tensor as it is drawn: elems values center + half_width * u. */
struct cu_draw {
    int64_t elems;
    float center, half_width;
};

/* ---- sizes ---- */

static int64_t cu__pad(int64_t elems)
{
    return (elems + CU_RT_ALIGN_ELEMS - 1) / CU_RT_ALIGN_ELEMS * CU_RT_ALIGN_ELEMS;
}

static struct cu_draw cu__layer_tensor(const struct cu_rt_shape *sh, int t)
{
    int64_t h = sh->hidden, f = sh->ffn;
    float wh = 1.0f / sqrtf((float)h), wf = 1.0f / sqrtf((float)f);
    switch (t) {
    case CU_LN1_G:
    case CU_LN2_G:
        return {h, 1.0f, cu_rt_gamma_spread};
    case CU_LN1_B:
    case CU_LN2_B:
        return {h, 0.0f, cu_rt_beta_spread};
    case CU_WQKV:
        return {h * 3 * h, 0.0f, wh};
    case CU_WO:
        return {h * h, 0.0f, wh};
    case CU_W1:
        return {h * f, 0.0f, wh};
    default: /* CU_W2 */
        return {f * h, 0.0f, wf};
    }
}

/* The elements of the weights and of the scratch, in doubles (no overflow to check). */
static double cu__weight_elems_f(const struct cu_rt_shape *sh)
{
    double h = (double)sh->hidden, f = (double)sh->ffn;
    double layer = 4.0 * h + 4.0 * h * h + 2.0 * h * f;
    double embed = sh->first ? ((double)sh->vocab + (double)sh->seq) * h : 0.0;
    return embed + layer * sh->n_layers + (sh->last ? 2.0 * h : 0.0);
}

static double cu__scratch_elems_f(const struct cu_rt_shape *sh)
{
    double s = (double)sh->seq, h = (double)sh->hidden;
    return s * (6.0 * h + (double)sh->ffn) + (double)sh->heads * s * s;
}

/* What the stage's code relies on, checked before any device is touched. */
static int cu__shape_check(const struct cu_rt_shape *sh)
{
    if (sh->n_layers < 1 || sh->first_layer < 0 || sh->hidden < 1 || sh->heads < 1 || sh->ffn < 1 ||
        sh->seq < 1 || (sh->first && sh->vocab < 1))
        return mx_error(MX_EINPUT,
                        "cuda: stage: n_layers, hidden, heads, ffn, seq%s must be positive and "
                        "first_layer not negative (n_layers %d, first_layer %d, hidden %lld, "
                        "heads %lld, ffn %lld, seq %lld, vocab %lld)",
                        sh->first ? " and vocab" : "", (int)sh->n_layers, (int)sh->first_layer,
                        (long long)sh->hidden, (long long)sh->heads, (long long)sh->ffn,
                        (long long)sh->seq, (long long)sh->vocab);
    if (sh->hidden % sh->heads != 0)
        return mx_error(MX_EINPUT, "cuda: stage: hidden %lld is not a multiple of heads %lld",
                        (long long)sh->hidden, (long long)sh->heads);
    if (cu__weight_elems_f(sh) > cu_rt_max_elems || cu__scratch_elems_f(sh) > cu_rt_max_elems)
        return mx_error(
            MX_EINPUT, "cuda: stage: too large (%.3g weights, %.3g scratch elements; %.3g at most)",
            cu__weight_elems_f(sh), cu__scratch_elems_f(sh), cu_rt_max_elems);
    return MX_OK;
}

/* *p = elems halves on the current device, GPU gpu, for what (named in the message). */
static int cu__malloc(__half **p, int64_t elems, int gpu, const char *what)
{
    cudaError_t e = cudaMalloc((void **)p, (size_t)elems * sizeof(__half));
    if (e == cudaSuccess)
        return MX_OK;
    *p = NULL;
    (void)cudaGetLastError(); /* recorded here: no later launch check should see it */
    return mx_error(MX_EIO, "cuda: cudaMalloc: %s (%lld bytes of %s on GPU %d)",
                    cudaGetErrorString(e), (long long)(elems * (int64_t)sizeof(__half)), what, gpu);
}

/* ---- weights ---- */

static __half *cu__layer_weight(const struct cu_rt_stage *s, int32_t layer, int t)
{
    return s->layers + layer * s->layer_elems + s->layer_off[t];
}

/* Lay the weights out, allocate them, and draw every tensor on the stage's stream. */
static int cu__weights_new(struct cu_rt_stage *s, uint64_t seed)
{
    int rc = MX_OK;
    const struct cu_rt_shape *sh = &s->shape;
    int64_t h = sh->hidden, tokens = sh->first ? cu__pad(sh->vocab * h) : 0,
            positions = sh->first ? cu__pad(sh->seq * h) : 0, final = sh->last ? cu__pad(h) : 0;

    s->layer_elems = 0;
    for (int t = 0; t < CU_LAYER_TENSORS; t++) {
        s->layer_off[t] = s->layer_elems;
        s->layer_elems += cu__pad(cu__layer_tensor(sh, t).elems);
    }
    CU_TRY(cu__malloc(&s->weights, tokens + positions + sh->n_layers * s->layer_elems + 2 * final,
                      s->gpu, "weights"));
    s->layers = s->weights + tokens + positions;
    if (sh->first) {
        s->tokens = s->weights;
        s->positions = s->weights + tokens;
        CU_TRY(cu__fill_uniform(s->tokens, sh->vocab * h, seed, CU_T_TOKENS, 0.0f,
                                cu_rt_embed_spread, s->stream));
        CU_TRY(cu__fill_uniform(s->positions, sh->seq * h, seed, CU_T_POSITIONS, 0.0f,
                                cu_rt_embed_spread, s->stream));
    }
    for (int32_t l = 0; l < sh->n_layers; l++)
        for (int t = 0; t < CU_LAYER_TENSORS; t++) {
            struct cu_draw d = cu__layer_tensor(sh, t);
            uint64_t n = CU_T_LAYERS + (uint64_t)(sh->first_layer + l) * CU_LAYER_TENSORS + t;
            CU_TRY(cu__fill_uniform(cu__layer_weight(s, l, t), d.elems, seed, n, d.center,
                                    d.half_width, s->stream));
        }
    if (sh->last) {
        s->final_gamma = s->layers + sh->n_layers * s->layer_elems;
        s->final_beta = s->final_gamma + final;
        CU_TRY(cu__fill_uniform(s->final_gamma, h, seed, CU_T_FINAL_GAMMA, 1.0f, cu_rt_gamma_spread,
                                s->stream));
        CU_TRY(cu__fill_uniform(s->final_beta, h, seed, CU_T_FINAL_BETA, 0.0f, cu_rt_beta_spread,
                                s->stream));
    }
fail:
    return rc;
}

/* ---- scratch and GEMM plans ---- */

static int cu__scratch_new(struct cu_rt_stage *s)
{
    int rc = MX_OK;
    const struct cu_rt_shape *sh = &s->shape;
    int64_t sq = sh->seq, h = sh->hidden;
    int64_t sizes[6] = {sq * h, sq * 3 * h, sh->heads * sq * sq, sq * h, sq * h, sq * sh->ffn};
    __half **parts[6] = {&s->hn, &s->qkv, &s->scores, &s->ctx, &s->y, &s->mlp};
    int64_t total = 0;

    for (int i = 0; i < 6; i++)
        total += cu__pad(sizes[i]);
    CU_TRY(cu__malloc(&s->scratch, total, s->gpu, "scratch"));
    total = 0;
    for (int i = 0; i < 6; i++) {
        *parts[i] = s->scratch + total;
        total += cu__pad(sizes[i]);
    }
fail:
    return rc;
}

/* The alignment in bytes that a matrix off elements into a 256-byte aligned buffer keeps, with
 * rows ld and batches stride elements apart. */
static int cu__align(int64_t off, int64_t ld, int64_t stride)
{
    int a = cu__align_bytes(off * 2), b = cu__align_bytes(ld * 2), c = cu__align_bytes(stride * 2);
    return a < b ? (a < c ? a : c) : (b < c ? b : c);
}

/* One dense row-major C[m][n] = A[m][k] B[k][n] on whole 256-byte aligned buffers. */
static struct cu_gemm_shape cu__dense(int64_t m, int64_t n, int64_t k)
{
    struct cu_gemm_shape g = {};
    g.m = m;
    g.n = n;
    g.k = k;
    g.batch = 1;
    g.lda = k;
    g.ldb = n;
    g.ldc = n;
    g.align_a = cu__align(0, k, 0);
    g.align_b = g.align_c = cu__align(0, n, 0);
    return g;
}

/* Attention over the heads of the packed qkv (seq x 3 hidden; head i's Q, K, V at columns
 * i dh, hidden + i dh and 2 hidden + i dh, dh = hidden / heads): scores_i = Q_i K_i^T (seq x seq,
 * one after another), then ctx_i = P_i V_i into ctx's columns i dh. */
static void cu__attention_shapes(const struct cu_rt_shape *sh, struct cu_gemm_shape *scores,
                                 struct cu_gemm_shape *values)
{
    int64_t sq = sh->seq, h = sh->hidden, dh = h / sh->heads, ss = sq * sq;
    *scores = cu__dense(sq, sq, dh);
    scores->batch = (int32_t)sh->heads; /* heads <= hidden < 2^19 under cu_rt_max_elems */
    scores->trans_b = true;
    scores->lda = scores->ldb = 3 * h;
    scores->stride_a = scores->stride_b = dh;
    scores->stride_c = ss;
    scores->align_a = cu__align(0, 3 * h, dh);
    scores->align_b = cu__align(h, 3 * h, dh);
    scores->align_c = cu__align(0, sq, ss);

    *values = cu__dense(sq, dh, sq);
    values->batch = (int32_t)sh->heads;
    values->ldb = 3 * h;
    values->ldc = h;
    values->stride_a = ss;
    values->stride_b = dh;
    values->stride_c = dh;
    values->align_a = cu__align(0, sq, ss);
    values->align_b = cu__align(2 * h, 3 * h, dh);
    values->align_c = cu__align(0, h, dh);
}

static int cu__gemms_plan(struct cu_rt_stage *s)
{
    int rc = MX_OK;
    const struct cu_rt_shape *sh = &s->shape;
    int64_t sq = sh->seq, h = sh->hidden, f = sh->ffn;
    struct cu_gemm_shape scores, values,
        qkv = cu__dense(sq, 3 * h, h), attn_out = cu__dense(sq, h, h), mlp_in = cu__dense(sq, f, h),
        mlp_out = cu__dense(sq, h, f);
    cu__attention_shapes(sh, &scores, &values);
    CU_TRY(cu__gemm_plan(s->lt, &qkv, "qkv", &s->g_qkv));
    CU_TRY(cu__gemm_plan(s->lt, &scores, "attn_scores", &s->g_scores));
    CU_TRY(cu__gemm_plan(s->lt, &values, "attn_values", &s->g_values));
    CU_TRY(cu__gemm_plan(s->lt, &attn_out, "attn_out", &s->g_attn_out));
    CU_TRY(cu__gemm_plan(s->lt, &mlp_in, "mlp_in", &s->g_mlp_in));
    CU_TRY(cu__gemm_plan(s->lt, &mlp_out, "mlp_out", &s->g_mlp_out));
fail:
    return rc;
}

/* ---- stages ---- */

extern "C" int cu_rt_device_count(void)
{
    return cu__device_count();
}

/* Make gpu current without checks or messages, for the free functions; *prev as cu__use_device. */
static void cu__enter_quietly(int gpu, int *prev)
{
    if (cudaGetDevice(prev) != cudaSuccess)
        *prev = -1;
    (void)cudaSetDevice(gpu);
    (void)cudaGetLastError();
}

extern "C" void cu_rt_stage_free(struct cu_rt_stage *s)
{
    int prev;
    if (!s)
        return;
    cu__enter_quietly(s->gpu, &prev);
    if (s->stream)
        (void)cudaStreamSynchronize(s->stream); /* nothing may still use what is freed below */
    cu__gemm_release(&s->g_mlp_out);
    cu__gemm_release(&s->g_mlp_in);
    cu__gemm_release(&s->g_attn_out);
    cu__gemm_release(&s->g_values);
    cu__gemm_release(&s->g_scores);
    cu__gemm_release(&s->g_qkv);
    (void)cudaFree(s->scratch);
    (void)cudaFree(s->weights);
    (void)cudaFree(s->workspace);
    if (s->stop)
        (void)cudaEventDestroy(s->stop);
    if (s->start)
        (void)cudaEventDestroy(s->start);
    if (s->lt)
        (void)cublasLtDestroy(s->lt);
    if (s->stream)
        (void)cudaStreamDestroy(s->stream);
    (void)cudaGetLastError();
    cu__restore_device(prev);
    free(s);
}

extern "C" int cu_rt_stage_new(int gpu, const struct cu_rt_shape *shape, uint64_t seed,
                               struct cu_rt_stage **out)
{
    int rc = MX_OK, prev = -1;
    struct cu_rt_stage *s = NULL;
    if (!out || !shape)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_stage_new: shape and out must not be NULL");
    *out = NULL;
    CU_TRY(cu__shape_check(shape));
    CU_TRY(cu__use_device(gpu, &prev));

    s = MX_NEW(struct cu_rt_stage);
    s->gpu = gpu;
    s->shape = *shape;
    CU_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    CU_CHECK_BLAS(cublasLtCreate(&s->lt));
    CU_CHECK(cudaMalloc(&s->workspace, cu_workspace_bytes));
    CU_CHECK(cudaEventCreate(&s->start));
    CU_CHECK(cudaEventCreate(&s->stop));
    CU_TRY(cu__weights_new(s, seed));
    CU_TRY(cu__scratch_new(s));
    CU_TRY(cu__gemms_plan(s));
    CU_CHECK(cudaStreamSynchronize(s->stream)); /* the weights are drawn */
    *out = s;
    s = NULL;
fail:
    cu_rt_stage_free(s);
    cu__restore_device(prev);
    return rc;
}

/* c = alpha a op(b) on the stage's stream (g planned for these operands). */
static int cu__gemm(struct cu_rt_stage *s, const struct cu_gemm *g, float alpha, const __half *a,
                    const __half *b, __half *c)
{
    return cu__gemm_run(s->lt, g, alpha, a, b, 0.0f, c, s->workspace, s->stream);
}

/* One layer on the residual stream x (seq x hidden), in place:
 *   x += (softmax(mask(Q K^T / sqrt(dh))) V) Wo  with Q, K, V from LN1(x) Wqkv
 *   x += GELU(LN2(x) W1) W2 */
static int cu__layer_forward(struct cu_rt_stage *s, int32_t l, __half *x)
{
    int rc = MX_OK;
    const struct cu_rt_shape *sh = &s->shape;
    int64_t sq = sh->seq, h = sh->hidden, n = sq * h, dh = h / sh->heads;
    float scale = 1.0f / sqrtf((float)dh);
    cudaStream_t st = s->stream;

    CU_TRY(cu__layernorm(x, cu__layer_weight(s, l, CU_LN1_G), cu__layer_weight(s, l, CU_LN1_B),
                         s->hn, sq, h, st));
    CU_TRY(cu__gemm(s, &s->g_qkv, 1.0f, s->hn, cu__layer_weight(s, l, CU_WQKV), s->qkv));
    CU_TRY(cu__gemm(s, &s->g_scores, scale, s->qkv, s->qkv + h, s->scores));
    CU_TRY(cu__softmax(s->scores, s->scores, sh->heads * sq, sq, sh->causal ? sq : 0, st));
    CU_TRY(cu__gemm(s, &s->g_values, 1.0f, s->scores, s->qkv + 2 * h, s->ctx));
    CU_TRY(cu__gemm(s, &s->g_attn_out, 1.0f, s->ctx, cu__layer_weight(s, l, CU_WO), s->y));
    CU_TRY(cu__add(x, s->y, x, n, st));

    CU_TRY(cu__layernorm(x, cu__layer_weight(s, l, CU_LN2_G), cu__layer_weight(s, l, CU_LN2_B),
                         s->hn, sq, h, st));
    CU_TRY(cu__gemm(s, &s->g_mlp_in, 1.0f, s->hn, cu__layer_weight(s, l, CU_W1), s->mlp));
    CU_TRY(cu__gelu(s->mlp, s->mlp, sq * sh->ffn, st));
    CU_TRY(cu__gemm(s, &s->g_mlp_out, 1.0f, s->mlp, cu__layer_weight(s, l, CU_W2), s->y));
    CU_TRY(cu__add(x, s->y, x, n, st));
fail:
    return rc;
}

/* Enqueue the whole stage: the residual stream is out's buffer. */
static int cu__stage_enqueue(struct cu_rt_stage *s, uint64_t token_seed, const struct cu_rt_act *in,
                             struct cu_rt_act *out)
{
    int rc = MX_OK;
    const struct cu_rt_shape *sh = &s->shape;
    int64_t h = sh->hidden, n = sh->seq * h;
    __half *x = out->data;

    if (sh->first)
        CU_TRY(cu__embed(s->tokens, s->positions, x, sh->seq, h, sh->vocab, token_seed, s->stream));
    else if (in->data != x)
        CU_CHECK(cudaMemcpyAsync(x, in->data, (size_t)n * sizeof(__half), cudaMemcpyDeviceToDevice,
                                 s->stream));
    for (int32_t l = 0; l < sh->n_layers; l++)
        CU_TRY(cu__layer_forward(s, l, x));
    if (sh->last)
        CU_TRY(cu__layernorm(x, s->final_gamma, s->final_beta, x, sh->seq, h, s->stream));
fail:
    return rc;
}

/* a is a buffer on the stage's GPU that holds the stage's request shape (an input), or has room
 * for it (an output). */
static int cu__act_fits(const struct cu_rt_stage *s, const struct cu_rt_act *a, const char *which,
                        bool input)
{
    int64_t n = s->shape.seq * s->shape.hidden;
    if (a->gpu != s->gpu)
        return mx_error(MX_EUSAGE, "cuda: stage on GPU %d: %s buffer on GPU %d", s->gpu, which,
                        a->gpu);
    if (input ? a->seq != s->shape.seq || a->hidden != s->shape.hidden : a->capacity < n)
        return mx_error(MX_EUSAGE,
                        "cuda: stage of %lld x %lld: %s buffer of %lld x %lld (seq x hidden), "
                        "room for %lld elements",
                        (long long)s->shape.seq, (long long)s->shape.hidden, which,
                        (long long)a->seq, (long long)a->hidden, (long long)a->capacity);
    return MX_OK;
}

extern "C" int cu_rt_stage_forward(struct cu_rt_stage *s, uint64_t token_seed,
                                   const struct cu_rt_act *in, struct cu_rt_act *out, double *gpu_s)
{
    int rc = MX_OK, prev = -1;
    bool entered = false;
    float ms = 0.0f;
    if (!s || !out || !gpu_s)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_stage_forward: s, out and gpu_s must not be NULL");
    if (!s->shape.first && !in)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_stage_forward: in must not be NULL after the "
                                   "first stage");
    if (!s->shape.first)
        CU_TRY(cu__act_fits(s, in, "input", true));
    CU_TRY(cu__act_fits(s, out, "output", false));
    out->seq = s->shape.seq;
    out->hidden = s->shape.hidden;
    CU_TRY(cu__use_device(s->gpu, &prev));
    entered = true;

    CU_CHECK(cudaEventRecord(s->start, s->stream));
    CU_TRY(cu__stage_enqueue(s, token_seed, in, out));
    CU_CHECK(cudaEventRecord(s->stop, s->stream));
    CU_CHECK(cudaEventSynchronize(s->stop));
    CU_CHECK(cudaEventElapsedTime(&ms, s->start, s->stop));
    *gpu_s = ms * 1e-3;
fail:
    if (rc < 0 && entered)
        (void)cudaStreamSynchronize(s->stream); /* the caller's buffers are free to go */
    cu__restore_device(prev);
    return rc;
}

/* ---- activations ---- */

/* Wait for the calling thread's default stream on the current device. */
static int cu__wait_thread_stream(void)
{
    int rc = MX_OK;
    CU_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
fail:
    return rc;
}

extern "C" int cu_rt_act_new(int gpu, int64_t seq, int64_t hidden, struct cu_rt_act **out)
{
    int rc = MX_OK, prev = -1;
    struct cu_rt_act *a = NULL;
    if (!out)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_act_new: out must not be NULL");
    *out = NULL;
    if (seq < 1 || hidden < 1 || (double)seq * (double)hidden > cu_rt_max_elems)
        return mx_error(MX_EINPUT,
                        "cuda: activation of %lld x %lld: sizes must be positive and "
                        "at most %.3g elements",
                        (long long)seq, (long long)hidden, cu_rt_max_elems);
    CU_TRY(cu__use_device(gpu, &prev));

    a = MX_NEW(struct cu_rt_act);
    a->gpu = gpu;
    a->capacity = seq * hidden;
    a->seq = seq;
    a->hidden = hidden;
    CU_TRY(cu__malloc(&a->data, seq * hidden, gpu, "activation"));
    CU_CHECK(
        cudaMemsetAsync(a->data, 0, (size_t)(seq * hidden) * sizeof(__half), cudaStreamPerThread));
    CU_TRY(cu__wait_thread_stream());
    *out = a;
    a = NULL;
fail:
    cu_rt_act_free(a);
    cu__restore_device(prev);
    return rc;
}

extern "C" void cu_rt_act_free(struct cu_rt_act *a)
{
    int prev;
    if (!a)
        return;
    cu__enter_quietly(a->gpu, &prev);
    (void)cudaFree(a->data);
    (void)cudaGetLastError();
    cu__restore_device(prev);
    free(a);
}

/* Let GPU dst (current) read GPU src's memory directly, where it can: tried once per pair and
 * process (racing threads both try; the loser's "already enabled" is no error). Where it cannot,
 * cudaMemcpyPeer stages the copy through the host itself, so nothing here fails. */
static void cu__enable_peer(int dst, int src)
{
    static std::atomic<bool> tried[CU_RT_MAX_PEERS][CU_RT_MAX_PEERS];
    int can = 0;
    if (dst < CU_RT_MAX_PEERS && src < CU_RT_MAX_PEERS && tried[dst][src].exchange(true))
        return;
    if (cudaDeviceCanAccessPeer(&can, dst, src) == cudaSuccess && can)
        (void)cudaDeviceEnablePeerAccess(src, 0);
    (void)cudaGetLastError(); /* already enabled, or no peer access: not an error here */
}

extern "C" int cu_rt_act_copy(struct cu_rt_act *dst, const struct cu_rt_act *src)
{
    int rc = MX_OK, prev = -1;
    size_t bytes;
    if (!dst || !src)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_act_copy: dst and src must not be NULL");
    if (dst->capacity < src->seq * src->hidden)
        return mx_error(MX_EUSAGE,
                        "cuda: copy of a %lld x %lld activation into a buffer of %lld elements",
                        (long long)src->seq, (long long)src->hidden, (long long)dst->capacity);
    if (dst == src)
        return MX_OK;
    dst->seq = src->seq;
    dst->hidden = src->hidden;
    bytes = (size_t)(src->seq * src->hidden) * sizeof(__half);
    CU_TRY(cu__use_device(dst->gpu, &prev));
    if (dst->gpu == src->gpu) {
        CU_CHECK(cudaMemcpyAsync(dst->data, src->data, bytes, cudaMemcpyDeviceToDevice,
                                 cudaStreamPerThread));
    } else {
        cu__enable_peer(dst->gpu, src->gpu);
        CU_CHECK(cudaMemcpyPeerAsync(dst->data, dst->gpu, src->data, src->gpu, bytes,
                                     cudaStreamPerThread));
    }
    CU_TRY(cu__wait_thread_stream());
fail:
    cu__restore_device(prev);
    return rc;
}

extern "C" int cu_rt_act_checksum(const struct cu_rt_act *a, double *out)
{
    int rc = MX_OK, prev = -1;
    int64_t n;
    __half *host = NULL;
    double sum = 0.0;
    if (!a || !out)
        return mx_error(MX_EUSAGE, "cuda: cu_rt_act_checksum: a and out must not be NULL");
    n = a->seq * a->hidden;
    CU_TRY(cu__use_device(a->gpu, &prev));
    host = (__half *)mx_malloc_array((size_t)n, sizeof(__half));
    CU_CHECK(cudaMemcpyAsync(host, a->data, (size_t)n * sizeof(__half), cudaMemcpyDeviceToHost,
                             cudaStreamPerThread));
    CU_TRY(cu__wait_thread_stream());
    for (int64_t i = 0; i < n; i++)
        sum += (double)__half2float(host[i]);
    *out = sum;
fail:
    free(host);
    cu__restore_device(prev);
    return rc;
}
