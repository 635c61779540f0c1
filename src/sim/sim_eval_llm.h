/* The planner's evaluator for decoder models (sim_eval.h, decoder mode): each placement runs on the
 * iteration-level simulator (sim_llm_run) with every cost compiled once per (model, config) and
 * the groups' KV pools sized per placement; every group has the default scheduler settings. Full
 * runs only: sim_eval_run_next runs in full too. */
#ifndef SIM_EVAL_LLM_H
#define SIM_EVAL_LLM_H

#include "sim_eval.h"

struct eval_llm;

/* Compile trace (every model a decoder: bases[m] is model m's base) for evaluation. Errors are
 * sim_llm_new's (tokens, context, costs). */
int sim__eval_llm_new(const struct spec_cluster *cluster, const struct spec_profile *db,
                      const char *db_path, const struct wl_trace *trace, const char *const *bases,
                      struct eval_llm **out);
void sim__eval_llm_free(struct eval_llm *e);

/* Evaluate p into out; its arrays live in the counters given (model_requests, model_good:
 * [n_models]; group_requests: room for p's groups). */
void sim__eval_llm_run(const struct eval_llm *e, const struct spec_placement *p,
                       uint64_t *model_requests, uint64_t *model_good, uint64_t *group_requests,
                       struct sim_eval_result *out);

#endif
