/* Synthetic workloads: per-model arrival processes merged into one sorted trace.
 *
 * Model i draws its inter-arrival gaps from its own GSL stream ("arrivals", i) of the seed, so a
 * model's arrivals do not depend on the other models, the order of generation or the thread count.
 * Gamma gaps have shape 1/cv^2 and scale cv^2/rate (mean 1/rate, CV cv); Poisson is Gamma with
 * cv 1 (exponential gaps); deterministic places arrivals at start + k/rate. Arrivals fall in
 * [start_s, start_s + duration_s); equal times are ordered by model index.
 *
 * Request lengths (decoders, docs/decoders.md): a model draws its requests' (input, output) token
 * counts from its own "lengths" (spec_models.h), or from the spec's default lengths, in the grammar
 * of wl_lengths.h, on its own stream ("lengths", i), one pair per request in time order. When any
 * model has lengths, the trace has token counts, and every request takes its model's TTFT and TPOT
 * SLOs; requests of a model without lengths (an encoder) count 1 token each way. A model known to
 * be a decoder (by the profile, or because it gives a TTFT or TPOT SLO) must have lengths. Models
 * that give the same lengths with the same limit share one parsed distribution (an empirical
 * trace's pairs are held once), which messages name by the first of them. */
#ifndef WL_GEN_H
#define WL_GEN_H

#include <stdbool.h>
#include <stdint.h>

struct spec_model_set;
struct spec_model;
struct spec_profile;
struct wl_trace;

enum wl_process { WL_PROCESS_GAMMA, WL_PROCESS_POISSON, WL_PROCESS_DETERMINISTIC };
enum wl_rate_dist { WL_RATES_EQUAL, WL_RATES_POWER, WL_RATES_EXPLICIT };

struct wl_gen_spec {
    enum wl_process process;
    enum wl_rate_dist rate_dist;
    double alpha;      /* power law: rate_i proportional to (i + 1)^-alpha */
    double total_rate; /* requests/s over all models; <= 0 with explicit rates keeps them as is */
    double cv;         /* gap CV for models whose entry gives none (Gamma only) */
    double start_s;
    double duration_s;
    uint64_t seed;
    unsigned threads; /* models are generated on this many threads (>= 1) */

    /* Lengths; all optional (zero: none). */
    const char *lengths;           /* for models whose entry gives none, or NULL */
    const char *lengths_where;     /* names the default in messages (default "lengths") */
    uint32_t max_context;          /* bounds input + output of every request; 0: no bound */
    const struct spec_profile *db; /* tells decoders apart; bounds their requests by their
                                      context_tokens */
};

/* The largest power-law alpha. */
#define WL_MAX_ALPHA 99.0

/* Read a rate distribution, the one grammar of the command line and the sweep spec: "equal",
 * "power" (alpha 0.5), "power:ALPHA" (ALPHA a number in [0, WL_MAX_ALPHA]), or, with
 * explicit_allowed, "explicit". Returns NULL when text is one, else what was expected (a static
 * text for the caller's message, which names the place). */
const char *wl_rate_dist_parse(const char *text, bool explicit_allowed, enum wl_rate_dist *dist,
                               double *alpha);

/* Per-model rates (requests/s) for spec over set, into rates[set->n]. Explicit rates need every
 * model to give "rate"; MX_EINPUT names the first that does not. */
int wl_gen_rates(const struct spec_model_set *set, const struct wl_gen_spec *spec, double *rates);

/* Whether m is known to be a decoder: by db's kind for its base (when db is given), or because it
 * gives a TTFT or TPOT SLO, which only decoders may. */
bool wl_model_is_decoder(const struct spec_model *m, const struct spec_profile *db);

/* Generate a trace. set must be resolved (SLOs in seconds). Errors: MX_EINPUT for a bad spec, bad
 * lengths (naming the model set's member, or lengths_where), a decoder without lengths, lengths
 * that cannot fit a model's context, or a workload with no requests. The caller frees *out with
 * wl_trace_free(). */
int wl_gen(const struct spec_model_set *set, const struct wl_gen_spec *spec, struct wl_trace **out);

#endif
