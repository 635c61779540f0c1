/* Metrics over simulation results (docs/simulator.md), computed after a run, never inside it.
 *
 * Warmup trimming keeps the requests that arrive in [first + warmup, last - warmup] (first and last
 * arrival of the trace); every figure except busy fractions covers only those. Percentiles use the
 * nearest rank. Undefined figures (a percentile of nothing) are NaN. */
#ifndef SIM_METRICS_H
#define SIM_METRICS_H

#include "sim.h"

#include <stddef.h>
#include <stdint.h>

struct sim_latency_stats {
    size_t n;
    double mean_s, p50_s, p90_s, p99_s, p999_s, max_s;
};

struct sim_model_summary {
    size_t requests, good;
    double rate;       /* requests / measured window */
    double attainment; /* good / requests (NaN without requests) */
    double p99_s;      /* over good requests */
};

struct sim_group_summary {
    size_t requests; /* dispatched to the group */
    size_t good;
    double *busy_fraction; /* [stages]: busy time / the segment's span (all requests, untrimmed) */
};

struct sim_summary {
    double warmup_s;
    double window_start_s, window_end_s; /* arrivals kept */
    size_t requests;
    size_t count[SIM_N_STATUS];                /* by status */
    size_t rejected_total;                     /* rejected + dropped + no_replica */
    double attainment;                         /* good / requests */
    struct sim_latency_stats good_latency;     /* finish - arrival of good requests */
    struct sim_latency_stats accepted_latency; /* ... of good and late ones */
    double late_wait_mean_s;                   /* late requests: latency not spent executing */
    double late_exec_mean_s;                   /* late requests: time executing stages */
    uint32_t n_models;
    struct sim_model_summary *models; /* [n_models] in trace model order */
    uint32_t n_groups;
    struct sim_group_summary *groups; /* [n_groups] global group order */
};

/* Summarise r. A warmup that leaves no request is MX_EUSAGE with a message saying so. Release with
 * sim_summary_release(). */
int sim_summarize(const struct sim_world *w, const struct sim_results *r, double warmup_s,
                  struct sim_summary *out);
void sim_summary_release(struct sim_summary *s);

#endif
