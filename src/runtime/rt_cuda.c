/* The CUDA executor (rt_backend.h) over cuda/include/cu_rt.h: a stage on one GPU, fp16 layers on
 * cuBLASLt. Activations are device buffers tagged with their GPU; a stage whose input lives on
 * another GPU first copies it into its own input buffer (peer copy). Tensor parallelism is not
 * covered: op must be 1. Without CUDA every call fails with cu_rt's "built without CUDA". */
#include "rt_backend.h"

#include "cu_rt.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "prof_arch.h"

#include <stdlib.h>

struct cuda_act {
    int gpu;
    struct cu_rt_act *buf;
};

struct cuda_stage {
    struct rt_stage base;
    int gpu;
    int64_t seq, hidden;
    struct cu_rt_stage *stage;
    struct cuda_act local_in; /* the input copied here when it arrives from another GPU */
};

static void cuda_stage_free(struct rt_stage *base)
{
    struct cuda_stage *st = (struct cuda_stage *)base;
    if (!st)
        return;
    cu_rt_act_free(st->local_in.buf);
    cu_rt_stage_free(st->stage);
    free(st);
}

static int cuda_stage_new(const struct rt_stage_spec *spec, struct rt_stage **out)
{
    const struct prof_arch *a = spec->arch;
    *out = NULL;
    if (spec->op != 1)
        return mx_error(MX_EINPUT,
                        "%s: the cuda backend runs stages on one GPU each (op 1), not "
                        "%u tensor-parallel devices",
                        a->name, spec->op);
    if (a->kind == PROF_ARCH_MOE)
        return mx_error(MX_EINPUT, "%s: mixture-of-experts models are not run by the runtime",
                        a->name);
    if (a->kind == PROF_ARCH_DECODER)
        return mx_error(MX_EINPUT,
                        "%s: autoregressive decoders are not run by the runtime yet (it serves "
                        "one forward pass per request)",
                        a->name);
    struct cu_rt_shape shape = {.hidden = a->hidden,
                                .heads = a->heads,
                                .ffn = a->ffn,
                                .seq = a->seq,
                                .vocab = a->vocab,
                                .causal = a->kind == PROF_ARCH_CAUSAL,
                                .n_layers = spec->layer_end - spec->layer_begin,
                                .first_layer = spec->layer_begin,
                                .first = spec->first,
                                .last = spec->last};
    struct cuda_stage *st = MX_NEW(struct cuda_stage);
    st->base.backend = &rt_backend_cuda;
    st->gpu = spec->gpu;
    st->seq = a->seq;
    st->hidden = a->hidden;
    st->local_in.gpu = spec->gpu;
    int rc = cu_rt_stage_new(spec->gpu, &shape, spec->seed, &st->stage);
    if (rc == MX_OK && !spec->first)
        rc = cu_rt_act_new(spec->gpu, a->seq, a->hidden, &st->local_in.buf);
    if (rc < 0) {
        cuda_stage_free(&st->base);
        return rc;
    }
    *out = &st->base;
    return MX_OK;
}

static int cuda_act_new(struct rt_stage *base, void **out)
{
    const struct cuda_stage *st = (const struct cuda_stage *)base;
    struct cuda_act *act = MX_NEW(struct cuda_act);
    act->gpu = st->gpu;
    int rc = cu_rt_act_new(st->gpu, st->seq, st->hidden, &act->buf);
    if (rc < 0) {
        free(act);
        return rc;
    }
    *out = act;
    return MX_OK;
}

static void cuda_act_free(void *p)
{
    struct cuda_act *act = p;
    if (!act)
        return;
    cu_rt_act_free(act->buf);
    free(act);
}

static int cuda_act_checksum(struct rt_stage *s, const void *act, double *out)
{
    (void)s;
    return cu_rt_act_checksum(((const struct cuda_act *)act)->buf, out);
}

static int cuda_forward(struct rt_stage *base, uint64_t token_seed, const void *in, void *out)
{
    struct cuda_stage *st = (struct cuda_stage *)base;
    const struct cuda_act *src = in;
    const struct cuda_act *input = src;
    int rc = MX_OK;
    if (src && src->gpu != st->gpu) {
        rc = cu_rt_act_copy(st->local_in.buf, src->buf);
        input = &st->local_in;
    }
    double gpu_s;
    if (rc == MX_OK)
        rc = cu_rt_stage_forward(st->stage, token_seed, input ? input->buf : NULL,
                                 ((struct cuda_act *)out)->buf, &gpu_s);
    return rc;
}

const struct rt_backend rt_backend_cuda = {
    .name = "cuda",
    .stage_new = cuda_stage_new,
    .stage_free = cuda_stage_free,
    .act_new = cuda_act_new,
    .act_free = cuda_act_free,
    .act_checksum = cuda_act_checksum,
    .forward = cuda_forward,
};
