/* The decoder runtime: execute a plan's decoder groups for real (docs/runtime.md, "Decoders").
 *
 * One controller (the calling thread) and one worker thread per device of the plan, pinned to
 * the cluster's cores (cpu backend). Requests enter at their trace times on an absolute clock
 * (open loop). The controller dispatches and admits them with the decoder simulator's own rules
 * (sim_llm_control.h) and emulates the cluster's client, dispatch and exec overheads as delays.
 * Each group's first stage asks the same scheduler for the group's next iteration whenever it may
 * start one, and runs it as one batched forward pass of the model's real layers
 * (kern_decoder.h: prefill chunks and decodes together, causal attention over each request's
 * paged KV cache, rotary embeddings, grouped-query attention, gated MLP; tensor-parallel ranks
 * as threads summing their partial products), hands it to the next stage, and the last stage
 * picks every emitting request's next token (the argmax of the logits: there is no end token,
 * a request generates exactly its output_tokens). Up to pp iterations of a group are in flight;
 * stage 0 reports when it is free, the last stage when an iteration ends, with measured times:
 * the scheduler's clocks are the machine's.
 *
 * Each device keeps a paged KV cache in blocks of 16 tokens (kern_kv.h) for every model its
 * group hosts; the scheduler's block accounting (the simulator's pool, per stage, shared by the
 * group's models) decides what is taken, and the executor takes exactly that: a request's
 * blocks on each stage are taken when an iteration needs them and freed when it finishes or is
 * preempted (recomputed for real later: prompt and generated tokens). Every request ends exactly
 * once (good, late, or refused at dispatch or admission). */
#ifndef RT_LLM_H
#define RT_LLM_H

#include "rt_serve.h"
#include "sim_llm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spec_plan;
struct spec_profile;

/* Measured iterations of one stage of a decoder group. */
struct rt_llm_stage_report {
    uint32_t group, stage; /* decoder group (sim_llm's index) and stage */
    size_t iterations;
    double mean_s, p50_s, p99_s, max_s; /* from when the stage could start each to its end */
    double predicted_mean_s;            /* the world's cost of the same iterations (stage factor
                                           included), averaged */
    int64_t kv_pool_bytes;              /* the simulator's pool of each device of the stage */
    int64_t kv_peak_bytes;              /* the most KV bytes the stage's rank 0 held at once */
};

struct rt_llm_report {
    const char *backend;
    struct sim_llm_results *results; /* per decoder request, as the simulator's */
    size_t released;                 /* requests released (the rest never were: a stop) */
    bool interrupted;
    bool realtime; /* the controller ran with real-time priority */
    double wall_s; /* first arrival to last iteration end (0 for calibrate_only) */
    /* Warm-up forward time over the profile's cost of the same iteration (stage factor 1),
     * averaged over (stage, hosted model) by the models' shares of the requests; NaN: none. */
    double calibration;
    /* Over the run: the measured stage times over the world's costs of the same iterations. */
    double realized;
    size_t n_stages;
    struct rt_llm_stage_report *stages; /* [n_stages] group by group, stage by stage */
    size_t n_warm;
    struct rt_warm_report *warm; /* [n_warm]; model: the trace's index */
    /* The tokens request i generated: tokens[token_start[i] .. token_start[i] +
     * results->generated[i]). */
    size_t *token_start; /* [results->n + 1] */
    int32_t *tokens;
};

/* Check that plan's decoder groups can run on this machine with o (the cpu backend; models in
 * the zoo; a core per device; the world's KV blocks of 16 tokens), then serve w's requests. w must
 * be compiled from plan and db (sim_llm_new) and hold every request of its trace (a plan that
 * mixes encoder and decoder models is the caller's to refuse). o's dispatch and queue_capacity do
 * not apply (the cluster's decoder settings do). Errors before the run are MX_EINPUT naming the
 * plan (plan_path), the cluster's block size or the zoo. Release out with
 * rt_llm_report_release(). */
int rt_llm_serve(const struct sim_llm *w, const struct spec_plan *plan, const char *plan_path,
                 const struct spec_profile *db, const struct rt_options *o,
                 struct rt_llm_report *out);
void rt_llm_report_release(struct rt_llm_report *r);

/* The run's own figures as JSON: backend, released, interrupted, realtime_controller, wall_s,
 * calibration, realized, warm_up, stages, tokens_generated. */
json_t *rt_llm_report_json(const struct sim_llm *w, const struct rt_llm_report *r);

#endif
