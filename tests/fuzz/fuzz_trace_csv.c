/* Traces in muxplan's own CSV form (trace import csv without options): wl_trace_read_csv(). */
#include "fuzz.h"

#include "wl_trace.h"

static int read_trace(const char *path, int variant)
{
    (void)variant;
    struct wl_trace *trace;
    int rc = wl_trace_read_csv(path, &trace);
    if (rc == 0)
        wl_trace_free(trace);
    return rc;
}

FUZZ_TARGET(trace_csv, "trace.csv", read_trace, 1)
