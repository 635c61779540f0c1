/* A workload trace: requests (arrival time, model, SLOs, and for autoregressive models their token
 * counts) sorted by arrival.
 *
 * HDF5 form ("muxplan-trace/1"):
 *   /arrival_s     float64 [n]  seconds, finite, >= 0, non-decreasing
 *   /model         int32   [n]  index into /model_names
 *   /slo_s         float64 [n]  latency SLO, seconds: > 0 and at most SPEC_MAX_SLO_S
 *                               (spec_models.h), or +inf for none (which only a request of a
 *                               decoder model may have: simulate refuses it for an encoder)
 *   /model_names   string  [m]  unique names
 *   optional, all or none of the token datasets (decoder requests, docs/decoders.md):
 *   /input_tokens  int32   [n]  prompt tokens, >= 1
 *   /output_tokens int32   [n]  tokens to generate, >= 1; input + output at most
 *                               SPEC_MAX_CONTEXT_TOKENS (spec_profile.h)
 *   /ttft_slo_s    float64 [n]  time to first token SLO (as slo_s, +inf for none); optional
 *   /tpot_slo_s    float64 [n]  time per output token SLO (as slo_s, +inf for none); optional
 *   optional with the token datasets, both or neither (the prompts' prefix block hashes, from
 *   Mooncake's hash_ids: equal leading hashes are a shared prefix whose KV cache may be reused):
 *   /block_hash_start int64 [n + 1]  request i's hashes are /block_hashes[start[i] .. start[i+1]);
 *                                    start[0] = 0, non-decreasing, start[n] = h
 *   /block_hashes     int64 [h]      each >= 0; attribute block_tokens: tokens a hash covers
 *   attributes: format, start_s and duration_s (the window the trace covers), provenance (JSON
 *   text).
 * CSV form: a header naming the columns arrival_s, model (a name) and slo_s, and optionally
 * input_tokens and output_tokens (both or neither) and then ttft_slo_s and tpot_slo_s, in any
 * order; other columns are ignored; an empty SLO field means none. Requests with equal arrival
 * times keep their order in the file. Traces without token columns still read. The CSV form has
 * no block hashes: writing it leaves them out. */
#ifndef WL_TRACE_H
#define WL_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spec_model_set;

struct wl_trace {
    size_t n;          /* requests */
    double *arrival_s; /* [n] */
    int32_t *model;    /* [n] */
    double *slo_s;     /* [n] seconds, INFINITY for none */
    /* Token counts and decoder SLOs: all four NULL in a trace without tokens. */
    int32_t *input_tokens;  /* [n] */
    int32_t *output_tokens; /* [n] */
    double *ttft_slo_s;     /* [n] seconds, INFINITY for none */
    double *tpot_slo_s;     /* [n] seconds, INFINITY for none */
    /* Prefix block hashes, only with tokens: request i's are block_hashes[block_hash_start[i] ..
     * block_hash_start[i + 1]); both NULL when the trace has none. */
    int64_t *block_hash_start; /* [n + 1] */
    int64_t *block_hashes;     /* [block_hash_start[n]] */
    int32_t block_hash_tokens; /* tokens a hash covers */
    size_t block_hashes_cap;   /* private: room in block_hashes */
    size_t block_hash_slots;   /* private: requests whose hashes are filled in */
    uint32_t n_models;
    char **model_names; /* [n_models] */
    double start_s;     /* start of the covered window (default: first arrival) */
    double duration_s;  /* length of the covered window (default: last - first arrival) */
    char *provenance;   /* JSON text, or NULL */
    char *path;         /* the file it was read from, for messages, or NULL */
};

/* A trace with room for n requests and a copy of the n_models names; arrays uninitialised,
 * start_s = duration_s = 0, no token arrays. Free with wl_trace_free(). */
struct wl_trace *wl_trace_new(size_t n, uint32_t n_models, const char *const *names);
void wl_trace_free(struct wl_trace *t);

/* Give t its token arrays (uninitialised counts, SLOs INFINITY), unless it has them. */
void wl_trace_add_tokens(struct wl_trace *t);

/* Whether t carries token counts. */
static inline bool wl_trace_has_tokens(const struct wl_trace *t)
{
    return t->input_tokens != NULL;
}

/* Give t (which has tokens) block hash arrays, empty, of block_tokens tokens a hash, unless it has
 * them. Requests' hashes are then appended in request order (wl_trace_append_block_hashes, or
 * wl_trace_copy_request). */
void wl_trace_add_block_hashes(struct wl_trace *t, int32_t block_tokens);

/* Whether t carries block hashes. */
static inline bool wl_trace_has_block_hashes(const struct wl_trace *t)
{
    return t->block_hash_start != NULL;
}

/* Give request k of t (which has block hashes) the n hashes (copied). Requests are filled in order:
 * k must be the first request without its hashes. */
void wl_trace_append_block_hashes(struct wl_trace *t, size_t k, const int64_t *hashes, size_t n);

/* Copy request i of from into slot k of to, every field to has (token fields default to 1 token
 * and no SLO when from has none, block hashes to none); the model index is copied as is. When to
 * has block hashes, slots are filled in order (wl_trace_append_block_hashes). */
void wl_trace_copy_request(struct wl_trace *to, size_t k, const struct wl_trace *from, size_t i);

/* A new trace with the requests of t arriving in [from_s, to_s) whose model m has map[m] >= 0,
 * renumbered to map[m] among the n_models names. The window becomes [from_s, to_s) clipped to t's.
 * The result may hold no request. Free with wl_trace_free(). */
struct wl_trace *wl_trace_select(const struct wl_trace *t, double from_s, double to_s,
                                 const int32_t *map, uint32_t n_models, const char *const *names);

/* Give every request of t its model's SLOs from set (resolved; t's models are set's): the latency
 * SLO, and when t has tokens the TTFT and TPOT SLOs. */
void wl_trace_set_model_slos(struct wl_trace *t, const struct spec_model_set *set);

/* Multiply every SLO of every request of t by k (> 0); none stays none. */
void wl_trace_scale_slos(struct wl_trace *t, double k);

/* The problem with request i given the request before it, or NULL if it is valid; *field names the
 * column at fault ("arrival_s", "model", "slo_s", or a token column). Used by every reader. */
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
