/* The decoder part of a results file (sim_output.h), under /decoder:
 *
 *   /decoder/request i64 (its row in the trace), /decoder/model i32 (trace model),
 *   /decoder/group i32 (plan group, -1: never dispatched), /decoder/status u8, /decoder/good u8,
 *   /decoder/arrival_s f64, /decoder/first_token_s f64 (NaN: none), /decoder/finish_s f64 (last
 *   token, or when refused), /decoder/ttft_s f64, /decoder/tpot_s f64 (NaN unless completed),
 *   /decoder/input_tokens i32, /decoder/output_tokens i32, /decoder/generated i32,
 *   /decoder/preemptions i32                                      one row per decoder request
 *   /decoder/model_names str; /decoder/groups/id i32, /decoder/groups/plan_index i32
 *   attributes of /decoder: attainment, requests, and summary (sim_llm_summary_json as text). */
#ifndef SIM_LLM_OUTPUT_H
#define SIM_LLM_OUTPUT_H

#include "mx_h5.h"
#include "sim_llm_metrics.h"

int sim_llm_results_write(struct mx_h5 *h, const struct sim_llm *w, const struct sim_llm_results *r,
                          const struct sim_llm_summary *s);

#endif
