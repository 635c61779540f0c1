/* The CPU executor (rt_backend.h): FP32 transformer layers (kern_layer.h) on the calling thread,
 * GEMMs through single-threaded OpenBLAS. The first stage embeds tokens (token plus position
 * embeddings); the last applies a final layer norm. Tensor-parallel ranks sum their partial
 * products through the stage's team (rt_team.h). */
#include "rt_backend.h"
#include "rt_team.h"

#include "kern_layer.h"
#include "kern_ops.h"
#include "kern_weights.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "prof_arch.h"
#include "prof_ops.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

struct cpu_stage {
    struct rt_stage base;
    struct rt_stage_spec spec;
    struct kern_layer_shape shape;
    int32_t n_layers;
    struct kern_layer *layers; /* [n_layers] */
    struct kern_layer_scratch scratch;
    struct kern_allreduce reduce;    /* over the team, when op > 1 */
    float *token_embedding;          /* first stage: [vocab][h] */
    float *position_embedding;       /* first stage: [seq][h] */
    float *final_gamma, *final_beta; /* last stage: [h] */
    float *x;                        /* [seq][h] the request's activations */
};

static void team_sum(void *ctx, float *buf, float *scratch, size_t n)
{
    struct cpu_stage *st = ctx;
    rt_team_allreduce(st->spec.team, st->spec.rank, buf, scratch, n);
}

static void cpu_stage_free(struct rt_stage *base)
{
    struct cpu_stage *st = (struct cpu_stage *)base;
    if (!st)
        return;
    for (int32_t i = 0; st->layers && i < st->n_layers; i++)
        kern_layer_release(&st->layers[i]);
    free(st->layers);
    kern_layer_scratch_release(&st->scratch);
    free(st->token_embedding);
    free(st->position_embedding);
    free(st->final_gamma);
    free(st->final_beta);
    free(st->x);
    free(st);
}

static int check_spec(const struct rt_stage_spec *spec)
{
    const struct prof_arch *a = spec->arch;
    if (a->kind == PROF_ARCH_MOE)
        return mx_error(MX_EINPUT, "%s: mixture-of-experts models are not run by the runtime",
                        a->name);
    if (a->kind == PROF_ARCH_DECODER)
        return mx_error(MX_EINPUT,
                        "%s: autoregressive decoders are not run by the runtime yet (it serves "
                        "one forward pass per request)",
                        a->name);
    if (a->heads % (int64_t)spec->op != 0 || a->ffn % (int64_t)spec->op != 0)
        return mx_error(MX_EINPUT,
                        "%s: %u tensor-parallel devices do not divide heads %lld and ffn %lld",
                        a->name, spec->op, (long long)a->heads, (long long)a->ffn);
    if (spec->layer_begin < 0 || spec->layer_end <= spec->layer_begin ||
        spec->layer_end > a->layers)
        return mx_error(MX_EINPUT, "%s: stage layers [%d, %d) are outside its %lld layers", a->name,
                        (int)spec->layer_begin, (int)spec->layer_end, (long long)a->layers);
    return MX_OK;
}

static int cpu_stage_new(const struct rt_stage_spec *spec, struct rt_stage **out)
{
    const struct prof_arch *a = spec->arch;
    int rc = check_spec(spec);
    *out = NULL;
    if (rc < 0)
        return rc;
    /* A device is one core: OpenBLAS must not start threads of its own (process-wide). */
    openblas_set_num_threads(1);
    struct cpu_stage *st = MX_NEW(struct cpu_stage);
    st->base.backend = &rt_backend_cpu;
    st->spec = *spec;
    st->shape = prof_layer_shape(a, (int)spec->op, (int)spec->rank);
    st->reduce = (struct kern_allreduce){team_sum, st};
    st->n_layers = spec->layer_end - spec->layer_begin;
    st->layers = MX_NEW_ARRAY(struct kern_layer, (size_t)st->n_layers);
    for (int32_t i = 0; i < st->n_layers; i++)
        kern_layer_init(&st->layers[i], &st->shape, spec->seed, spec->layer_begin + i);
    kern_layer_scratch_init(&st->scratch, &st->shape, 1);
    int64_t h = a->hidden;
    if (spec->first) {
        st->token_embedding = kern_weight_rows(
            kern_weight_seed(spec->seed, -1, KERN_TOKEN_EMBEDDING), 0, a->vocab, h, 1.0f);
        st->position_embedding = kern_weight_rows(
            kern_weight_seed(spec->seed, -1, KERN_POSITION_EMBEDDING), 0, a->seq, h, 0.1f);
    }
    if (spec->last) {
        st->final_gamma =
            kern_weight_vector(kern_weight_seed(spec->seed, -1, KERN_FINAL_GAMMA), h, 0.1f, 1.0f);
        st->final_beta =
            kern_weight_vector(kern_weight_seed(spec->seed, -1, KERN_FINAL_BETA), h, 0.1f, 0.0f);
    }
    st->x = mx_malloc_array((size_t)(a->seq * h), sizeof(float));
    *out = &st->base;
    return MX_OK;
}

static int cpu_act_new(struct rt_stage *base, void **out)
{
    const struct cpu_stage *st = (const struct cpu_stage *)base;
    *out = MX_NEW_ARRAY(float, (size_t)(st->shape.seq * st->shape.hidden));
    return MX_OK;
}

static void cpu_act_free(void *act)
{
    free(act);
}

static int cpu_act_checksum(struct rt_stage *base, const void *act, double *out)
{
    const struct cpu_stage *st = (const struct cpu_stage *)base;
    const float *x = act;
    double sum = 0;
    for (int64_t i = 0; i < st->shape.seq * st->shape.hidden; i++)
        sum += x[i];
    *out = sum;
    return MX_OK;
}

static void embed(struct cpu_stage *st, uint64_t token_seed)
{
    int64_t h = st->shape.hidden;
    for (int64_t p = 0; p < st->shape.seq; p++) {
        const float *tok =
            st->token_embedding + kern_token(token_seed, p, st->spec.arch->vocab) * h;
        kern_add(tok, st->position_embedding + p * h, st->x + p * h, (size_t)h);
    }
}

static int cpu_forward(struct rt_stage *base, uint64_t token_seed, const void *in, void *out)
{
    struct cpu_stage *st = (struct cpu_stage *)base;
    size_t len = (size_t)(st->shape.seq * st->shape.hidden);
    if (st->spec.first)
        embed(st, token_seed);
    else
        memcpy(st->x, in, len * sizeof(float));
    const struct kern_allreduce *reduce = st->spec.op > 1 ? &st->reduce : NULL;
    for (int32_t i = 0; i < st->n_layers; i++)
        kern_layer_forward(&st->shape, &st->layers[i], &st->scratch, st->x, 1, reduce);
    if (st->spec.rank != 0)
        return MX_OK;
    if (st->spec.last)
        kern_layernorm(st->x, st->final_gamma, st->final_beta, out, (size_t)st->shape.seq,
                       (size_t)st->shape.hidden);
    else
        memcpy(out, st->x, len * sizeof(float));
    return MX_OK;
}

const struct rt_backend rt_backend_cpu = {
    .name = "cpu",
    .stage_new = cpu_stage_new,
    .stage_free = cpu_stage_free,
    .act_new = cpu_act_new,
    .act_free = cpu_act_free,
    .act_checksum = cpu_act_checksum,
    .forward = cpu_forward,
};
