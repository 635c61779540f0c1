/* Traces in HDF5 built from the input by fuzz_h5_build(): wl_trace_read_h5() on well-formed files
 * of any layout, types and values. */
#include "fuzz.h"

#include "wl_trace.h"

static const char *const names[] = {"arrival_s", "model",      "slo_s",      "model_names",
                                    "format",    "start_s",    "duration_s", "provenance",
                                    "x"};

static int read_trace(const char *path, int variant)
{
    (void)variant;
    struct wl_trace *trace;
    int rc = fuzz_h5_build(path, "trace", names, sizeof(names) / sizeof(names[0]));
    if (rc == 0)
        rc = wl_trace_read_h5(path, &trace);
    if (rc == 0)
        wl_trace_free(trace);
    return rc;
}

FUZZ_TARGET(trace_h5_built, "trace.h5", read_trace, 1)
