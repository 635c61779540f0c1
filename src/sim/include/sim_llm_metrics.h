/* Metrics over decoder simulation results (docs/decoders.md, "Metrics"), computed after a run.
 *
 * The window is the encoders' (sim_llm_window): figures over requests cover those arriving in it;
 * per-group iteration counts, busy time and KV use cover the whole run. Latency statistics are
 * over completed requests (good or late); percentiles use the nearest rank, except inter-token
 * gaps, read from the run's histogram (low by less than 0.4%). Undefined figures are NaN. */
#ifndef SIM_LLM_METRICS_H
#define SIM_LLM_METRICS_H

#include "sim_llm.h"

#include <jansson.h>
#include <stdio.h>

struct sim_llm_stats {
    size_t n;
    double mean_s, p50_s, p90_s, p99_s;
};

struct sim_llm_model_summary {
    size_t requests, good;
    double attainment;
    double goodput;                /* good requests per second of the window */
    double ttft_p50_s, tpot_p50_s; /* over its completed requests */
    double ttft_p99_s, tpot_p99_s;
};

struct sim_llm_group_summary {
    size_t requests, good; /* dispatched to it, in the window */
    uint64_t iterations, tokens, preemptions;
    double tokens_per_iteration;
    double busy_fraction;   /* stage 0's busy time over the run's span */
    double kv_mean, kv_max; /* the largest stage's share of its KV pool */
};

struct sim_llm_summary {
    double warmup_s, window_start_s, window_end_s;
    size_t requests;
    size_t count[SIM_N_STATUS];
    double attainment, ttft_attainment, tpot_attainment; /* over requests; refused ones miss */
    double goodput;                                      /* good requests per second of window */
    double input_tokens_per_s, output_tokens_per_s;      /* of completed requests, per window s */
    struct sim_llm_stats ttft, tpot, gap, e2e;
    uint64_t iterations, preemptions;
    double tokens_per_iteration;
    uint32_t n_models;
    struct sim_llm_model_summary *models; /* [n_models] by trace model (decoder ones have data) */
    uint32_t n_groups;
    struct sim_llm_group_summary *groups; /* [n_groups] decoder groups */
};

/* Summarise r (run with the same warmup_s). A window with no decoder request gives zero requests
 * and NaN figures. Release with sim_llm_summary_release(). */
void sim_llm_summarize(const struct sim_llm *w, const struct sim_llm_results *r, double warmup_s,
                       struct sim_llm_summary *out);
void sim_llm_summary_release(struct sim_llm_summary *s);

/* The summary as JSON (the "decoder" member of simulate's summary), and as text. */
json_t *sim_llm_summary_json(const struct sim_llm *w, const struct sim_llm_summary *s);
void sim_llm_summary_print(FILE *fp, const struct sim_llm *w, const struct sim_llm_summary *s);

#endif
