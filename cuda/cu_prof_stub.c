/* The CUDA profiler in a build without CUDA: cu_prof.h's functions, every one of which fails with
 * MX_EUSAGE "built without CUDA", so that callers need no #if of their own. No GPU is visible. */
#include "cu_prof.h"

#include "mx_error.h"

static int cu__without_cuda(const char *what)
{
    return mx_error(MX_EUSAGE, "cuda: %s: built without CUDA", what);
}

int cu_prof_device_count(void)
{
    return 0;
}

int cu_prof_device_name(int device, char *buf, size_t len)
{
    (void)device;
    if (buf && len > 0)
        buf[0] = '\0';
    return cu__without_cuda("device name");
}

int cu_prof_time_ops(int device, const struct cu_op *ops, size_t n, struct cu_timing *out)
{
    (void)device;
    (void)ops;
    (void)n;
    (void)out;
    return cu__without_cuda("timing ops");
}

int cu_prof_copy_bandwidth(int device, size_t bytes, double *bytes_per_s)
{
    (void)device;
    (void)bytes;
    (void)bytes_per_s;
    return cu__without_cuda("copy bandwidth");
}

int cu_prof_allreduce_bandwidth(int n_devices, size_t bytes, double *bus_bytes_per_s)
{
    (void)n_devices;
    (void)bytes;
    (void)bus_bytes_per_s;
    return cu__without_cuda("all-reduce bandwidth");
}
