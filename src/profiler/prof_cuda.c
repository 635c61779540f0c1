/* The cuda backend: times the ops of prof_ops.h on GPU 0 through cuda/cu_prof.h (cuBLASLt fp16
 * GEMMs and our own kernels, CUDA events, warmup then at least 20 timed iterations). Opening it
 * fails with MX_EUSAGE in a build without CUDA and on a machine with no GPU, so that choosing it
 * where it cannot run is a usage error, not a failure half way through a sweep. */
#include "prof_backend.h"

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

static int cuda_time_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                         struct prof_timing *out)
{
    const struct prof_cuda *c = (const struct prof_cuda *)self;
    return cu_prof_time_ops(c->device, ops, n, out);
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
    c->base.free = cuda_free;
    c->hw = hw;
    c->device = 0;
    *out = &c->base;
    return MX_OK;
}
