/* The decoder simulator's scheduler, driven by a real executor: the runtime serves decoder plans
 * with the simulator's own rules (docs/decoders.md) for dispatch, admission, forming iterations
 * (batching, KV blocks, preemption) and their ends, fed with the times it measures instead of
 * the profile's. Requests are the world's decoder requests (sim_llm_request maps them to the
 * trace). Not thread-safe: the caller serialises calls.
 *
 * A session: sim_llm_control_dispatch when a request reaches the controller, then
 * sim_llm_control_admit when it reaches its group; whenever a group's stage 0 may take work
 * (sim_llm_control_stage0_free) or something changed, sim_llm_control_form asks for the next
 * iteration, which the executor runs through the group's stages; when its last stage finishes,
 * sim_llm_control_end gives its tokens out. Results accumulate as in sim_llm_run. */
#ifndef SIM_LLM_CONTROL_H
#define SIM_LLM_CONTROL_H

#include "sim_llm.h"

#include <stdbool.h>

struct sim_llm_control;

/* An iteration to run: its model (position in the group), and per entry the request, the tokens
 * it computes, how many of its tokens are in the KV cache before (its prefix), whether it is a
 * decode (its prompt was computed before) and whether it emits a token (a decode, or the chunk
 * that ends its prefill: the next token is read from its last position). Requests the formation
 * preempted (their KV cache is to be freed) are listed too. Valid until the next call. */
struct sim_llm_iteration {
    uint32_t slot;
    uint32_t n;
    const uint32_t *request, *tokens, *cached;
    const bool *decode, *emits;
    uint32_t n_preempted;
    const uint32_t *preempted;
};

/* A controller over w, with results for every decoder request. Free with sim_llm_control_free. */
struct sim_llm_control *sim_llm_control_new(const struct sim_llm *w);
void sim_llm_control_free(struct sim_llm_control *c);

/* Request i reaches the controller at now: its decoder group, or -1 when its model has no
 * replica (it is refused: no_replica). */
int32_t sim_llm_control_dispatch(struct sim_llm_control *c, uint32_t i, mx_ns now);
/* Request i reaches its group at now: whether it was admitted (else refused); an admitted request
 * may be scheduled from now plus the exec overhead. */
bool sim_llm_control_admit(struct sim_llm_control *c, uint32_t i, mx_ns now);
/* Stage 0 of group g finished its iteration at now. */
void sim_llm_control_stage0_free(struct sim_llm_control *c, uint32_t g, mx_ns now);
/* The next iteration of group g at now, if one can start (stage 0 free, fewer than pp in flight,
 * work to do): then true and *it describes it. */
bool sim_llm_control_form(struct sim_llm_control *c, uint32_t g, mx_ns now,
                          struct sim_llm_iteration *it);
/* The oldest iteration of group g finished its last stage at now (token times: now plus the
 * reply overhead). */
void sim_llm_control_end(struct sim_llm_control *c, uint32_t g, mx_ns now);
/* How many tokens request i has generated, and whether it has ended (finished or refused). */
uint32_t sim_llm_control_generated(const struct sim_llm_control *c, uint32_t i);
bool sim_llm_control_done(const struct sim_llm_control *c, uint32_t i);
/* The run is over at now: close the time-weighted KV records (results' kv_mean). Stage 0's busy
 * time is the executor's to fill in (it measures it). */
void sim_llm_control_finish(struct sim_llm_control *c, mx_ns now);
/* The results so far (complete once every request is done); owned by the controller. */
const struct sim_llm_results *sim_llm_control_results(const struct sim_llm_control *c);

#endif
