/* The cuda backend: times the ops of prof_ops.h on GPU 0 through cuda/include/cu_prof.h (cuBLASLt
 * fp16 GEMMs and our own kernels, CUDA events, warmup then at least 20 timed iterations). Opening
 * it fails with MX_EUSAGE in a build without CUDA and on a machine with no GPU, so that choosing it
 * where it cannot run is a usage error, not a failure half way through a sweep.
 *
 * Decoders' ops: the GEMMs (QKV, output, gate/up, down, router, LM head) run with their exact
 * shapes; the memory-bound ops run on our kernels of the same traffic, which cuda/ has for
 * encoders: RMSNorm as a layer norm of the same rows, SiLU(gate) * up as an add (two m x n reads,
 * one write), rotary embeddings and the embedding lookup as GELU over the elements they read and
 * write. Attention is not timed yet: its coefficients come from the hardware spec's decoder model
 * (docs/profiler.md). */
#include "prof_backend.h"
#include "prof_ops.h"

#include "cu_prof.h"
#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"

#include <stdlib.h>

struct prof_cuda {
    struct prof_backend base; /* first: the backend is freed through it */
    const struct prof_hw *hw; /* borrowed, recorded only */
    int device;
};

/* cuda/ knows nothing of the profiler: its ops and timings are described in its own terms. */
static enum cu_op_kind cu_kind(enum prof_op_kind kind)
{
    switch (kind) {
    case PROF_OP_GEMM:
        return CU_OP_GEMM;
    case PROF_OP_SOFTMAX:
        return CU_OP_SOFTMAX;
    case PROF_OP_LAYERNORM:
        return CU_OP_LAYERNORM;
    case PROF_OP_GELU:
        return CU_OP_GELU;
    case PROF_OP_ADD:
        return CU_OP_ADD;
    default:
        break;
    }
    MX_BUG("op kind %d", (int)kind);
}

/* A decoder op as the encoder kernel of the same traffic (see the file's comment). */
static struct prof_op as_encoder_op(const struct prof_op *op)
{
    struct prof_op o = *op;
    switch (op->kind) {
    case PROF_OP_RMSNORM:
        o.kind = PROF_OP_LAYERNORM;
        break;
    case PROF_OP_SILU_MUL:
        o.kind = PROF_OP_ADD;
        break;
    case PROF_OP_ROPE: /* m tokens of n heads of k columns */
        o.kind = PROF_OP_GELU;
        o.n = op->n * op->k;
        o.k = 0;
        break;
    case PROF_OP_EMBED: /* m rows of n columns out of a table */
        o.kind = PROF_OP_GELU;
        o.k = 0;
        break;
    default:
        break;
    }
    return o;
}

static int cuda_time_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                         struct prof_timing *out);

static int cuda_time_decoder_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                                 struct prof_timing *out)
{
    struct prof_op *shapes = MX_NEW_ARRAY(struct prof_op, n ? n : 1);
    int rc = MX_OK;
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        if (ops[i].kind == PROF_OP_ATTN_PREFILL || ops[i].kind == PROF_OP_ATTN_DECODE)
            rc = mx_error(MX_EUSAGE, "the cuda backend does not time attention yet (op %s)",
                          ops[i].name);
        shapes[i] = as_encoder_op(&ops[i]);
    }
    if (rc == MX_OK)
        rc = cuda_time_ops(self, shapes, n, out);
    free(shapes);
    return rc;
}

static int cuda_time_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                         struct prof_timing *out)
{
    const struct prof_cuda *c = (const struct prof_cuda *)self;
    struct cu_op *shapes = MX_NEW_ARRAY(struct cu_op, n ? n : 1);
    struct cu_timing *timings = MX_NEW_ARRAY(struct cu_timing, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        shapes[i] = (struct cu_op){cu_kind(ops[i].kind), ops[i].name, ops[i].m, ops[i].n, ops[i].k,
                                   ops[i].count};
    int rc = cu_prof_time_ops(c->device, shapes, n, timings);
    for (size_t i = 0; rc == MX_OK && i < n; i++)
        out[i] = (struct prof_timing){timings[i].median_s, timings[i].p10_s, timings[i].p90_s,
                                      timings[i].reps};
    free(shapes);
    free(timings);
    return rc;
}

static void cuda_free(struct prof_backend *self)
{
    free(self);
}

int prof_backend_cuda(const struct prof_hw *hw, struct prof_backend **out)
{
    *out = NULL;
    if (!MX_HAVE_CUDA)
        return mx_error(MX_EUSAGE, "the cuda backend: muxplan was built without CUDA");
    if (cu_prof_device_count() == 0)
        return mx_error(MX_EUSAGE, "the cuda backend: no GPU is visible");
    struct prof_cuda *c = MX_NEW(struct prof_cuda);
    c->base.name = "cuda";
    c->base.elem_bytes = 2;
    c->base.time_ops = cuda_time_ops;
    c->base.time_decoder_ops = cuda_time_decoder_ops;
    c->base.free = cuda_free;
    c->hw = hw;
    c->device = 0;
    *out = &c->base;
    return MX_OK;
}
