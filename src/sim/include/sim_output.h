/* Writing simulation results: the summary as a JSON object or a text table, and the per-request
 * results as HDF5 ("muxplan-results/1"):
 *
 *   /arrival_s f64, /model i32, /group i32 (-1: never dispatched), /start_s f64 (NaN: never ran),
 *   /finish_s f64, /exec_s f64, /batch i32, /status u8, /good u8     one row per request,
 *                                                                           in trace order
 *   /model_names str; /groups/id i32, /groups/segment i32, /groups/stages i32  per group
 *   attributes: format, attainment, requests, good, late, rejected, dropped, no_replica, failed,
 *   warmup_s,
 *   engine, dispatch, status_names, summary (the JSON summary as text), provenance (JSON text) */
#ifndef SIM_OUTPUT_H
#define SIM_OUTPUT_H

#include "sim_llm_metrics.h"
#include "sim_metrics.h"

#include <jansson.h>
#include <stdio.h>

/* What produced the results, for output: options and a provenance object (borrowed, may be NULL).
 */
struct sim_run_info {
    const char *engine;   /* "fast", "event", or the runtime's "runtime-cpu" / "runtime-cuda" */
    const char *dispatch; /* policy name */
    uint32_t max_batch;
    json_t *provenance;
    json_t *runtime; /* a real run's own figures (rt_report_json), put in the summary as
                        "runtime"; borrowed, NULL for simulations */
};

/* The summary as a new JSON object ({"format": "muxplan-summary/1", "attainment": ..., ...}). */
json_t *sim_summary_json(const struct sim_world *w, const struct sim_summary *s,
                         const struct sim_run_info *info);

/* The summary as human-readable tables. */
void sim_summary_print(FILE *fp, const struct sim_world *w, const struct sim_summary *s,
                       const struct sim_run_info *info);

/* Everything a simulation produced: its encoder part (w NULL when the trace has no request of an
 * encoder model) and its decoder part (llm NULL when it has none of a decoder model). */
struct sim_outcome {
    const struct sim_world *w;
    const struct sim_results *r;
    const struct sim_summary *s;
    const struct sim_llm *llm;
    const struct sim_llm_results *llm_r;
    const struct sim_llm_summary *llm_s;
};

/* The summary of an outcome: the encoder summary as sim_summary_json writes it (only that when
 * there are no decoder requests), plus "overall" (requests, good, attainment over both kinds) and
 * "decoder" (sim_llm_summary_json) when there are. */
json_t *sim_outcome_json(const struct sim_outcome *o, const struct sim_run_info *info);
void sim_outcome_print(FILE *fp, const struct sim_outcome *o, const struct sim_run_info *info);

/* Write per-request results and summaries to path (atomic): the encoder part at the root as
 * described above, the decoder part under /decoder (sim_llm_output.h). */
int sim_outcome_write_h5(const struct sim_outcome *o, const struct sim_run_info *info,
                         const char *path);

/* Write per-request results and the summary to path (atomic). */
int sim_results_write_h5(const struct sim_world *w, const struct sim_results *r,
                         const struct sim_summary *s, const struct sim_run_info *info,
                         const char *path);

#endif
