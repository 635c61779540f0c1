/* Traces in HDF5, muxplan's own form: wl_trace_read_h5(). */
#include "fuzz.h"

#include "wl_trace.h"

static int read_trace(const char *path, int variant)
{
    (void)variant;
    struct wl_trace *trace;
    int rc = wl_trace_read_h5(path, &trace);
    if (rc == 0)
        wl_trace_free(trace);
    return rc;
}

FUZZ_TARGET(trace_h5, "trace.h5", read_trace, 1)
