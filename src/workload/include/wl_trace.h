/* A workload trace: requests (arrival time, model, SLO) sorted by arrival.
 *
 * HDF5 form ("muxplan-trace/1"):
 *   /arrival_s    float64 [n]  seconds, finite, >= 0, non-decreasing
 *   /model        int32   [n]  index into /model_names
 *   /slo_s        float64 [n]  seconds, > 0 and at most SPEC_MAX_SLO_S (spec_models.h)
 *   /model_names  string  [m]  unique names
 *   attributes: format, start_s and duration_s (the window the trace covers), provenance (JSON
 * text) CSV form: a header naming the columns arrival_s, model (a name) and slo_s, in any order;
 * other columns are ignored. Requests with equal arrival times keep their order in the file. */
#ifndef WL_TRACE_H
#define WL_TRACE_H

#include <stddef.h>
#include <stdint.h>

struct spec_model_set;

struct wl_trace {
    size_t n;          /* requests */
    double *arrival_s; /* [n] */
    int32_t *model;    /* [n] */
    double *slo_s;     /* [n] */
    uint32_t n_models;
    char **model_names; /* [n_models] */
    double start_s;     /* start of the covered window (default: first arrival) */
    double duration_s;  /* length of the covered window (default: last - first arrival) */
    char *provenance;   /* JSON text, or NULL */
    char *path;         /* the file it was read from, for messages, or NULL */
};

/* A trace with room for n requests and a copy of the n_models names; arrays uninitialised,
 * start_s = duration_s = 0. Free with wl_trace_free(). */
struct wl_trace *wl_trace_new(size_t n, uint32_t n_models, const char *const *names);
void wl_trace_free(struct wl_trace *t);

/* A new trace with the requests of t arriving in [from_s, to_s) whose model m has map[m] >= 0,
 * renumbered to map[m] among the n_models names. The window becomes [from_s, to_s) clipped to t's.
 * The result may hold no request. Free with wl_trace_free(). */
struct wl_trace *wl_trace_select(const struct wl_trace *t, double from_s, double to_s,
                                 const int32_t *map, uint32_t n_models, const char *const *names);

/* The problem with request i given the request before it, or NULL if it is valid; *field names the
 * column at fault ("arrival_s", "model" or "slo_s"). Used by every reader. */
const char *wl_trace_request_problem(const struct wl_trace *t, size_t i, const char **field);

/* Readers validate everything (sorted, finite, in range, unique names, at least one request) and
 * name the file and the dataset and row, or the line. The caller frees *out. */
int wl_trace_read_h5(const char *path, struct wl_trace **out);

int wl_trace_read_csv(const char *path, struct wl_trace **out);

/* Read the HDF5 trace at path with its requests renumbered to the models of set (spec_models.h):
 * the trace's models must all be in set; a model of set may have no request. MX_EINPUT names a
 * trace model missing from set. The caller frees *out with wl_trace_free(). */
int wl_trace_read_for_models(const struct spec_model_set *set, const char *path,
                             struct wl_trace **out);

/* Writers, atomic. */
int wl_trace_write_h5(const struct wl_trace *t, const char *path);
int wl_trace_write_csv(const struct wl_trace *t, const char *path);

#endif
