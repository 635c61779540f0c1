/* The CUDA executor in a build without CUDA: cu_rt.h's functions, every one of which fails with
 * MX_EUSAGE "built without CUDA", so that callers need no #if of their own. No GPU is visible, no
 * stage or buffer is ever made, and the free functions accept NULL. */
#include "cu_rt.h"

#include "mx_error.h"

static int cu__without_cuda(const char *what)
{
    return mx_error(MX_EUSAGE, "cuda: %s: built without CUDA", what);
}

int cu_rt_device_count(void)
{
    return 0;
}

int cu_rt_stage_new(int gpu, const struct cu_rt_shape *shape, uint64_t seed,
                    struct cu_rt_stage **out)
{
    (void)gpu;
    (void)shape;
    (void)seed;
    if (out)
        *out = NULL;
    return cu__without_cuda("stage");
}

void cu_rt_stage_free(struct cu_rt_stage *s)
{
    (void)s;
}

int cu_rt_stage_forward(struct cu_rt_stage *s, uint64_t token_seed, const struct cu_rt_act *in,
                        struct cu_rt_act *out, double *gpu_s)
{
    (void)s;
    (void)token_seed;
    (void)in;
    (void)out;
    (void)gpu_s;
    return cu__without_cuda("stage forward");
}

int cu_rt_act_new(int gpu, int64_t seq, int64_t hidden, struct cu_rt_act **out)
{
    (void)gpu;
    (void)seq;
    (void)hidden;
    if (out)
        *out = NULL;
    return cu__without_cuda("activation");
}

void cu_rt_act_free(struct cu_rt_act *a)
{
    (void)a;
}

int cu_rt_act_copy(struct cu_rt_act *dst, const struct cu_rt_act *src)
{
    (void)dst;
    (void)src;
    return cu__without_cuda("activation copy");
}

int cu_rt_act_checksum(const struct cu_rt_act *a, double *out)
{
    (void)a;
    (void)out;
    return cu__without_cuda("activation checksum");
}
