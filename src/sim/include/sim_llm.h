/* The iteration-level simulator of decoder groups: autoregressive models served by continuous
 * batching with chunked prefill, a KV pool shared by a group's models, preemption by recompute, and
 * pipelines of up to pp iterations in flight. docs/decoders.md states its semantics exactly; an
 * independent model of the same rules (tests/sim/llm_reference.py) checks it request by request.
 *
 * Use: compile once (sim_llm_new: the plan's decoder groups, the trace's requests of decoder
 * models, every cost in integer nanoseconds), run as often as needed (sim_llm_run), then
 * summarise (sim_llm_metrics.h). */
#ifndef SIM_LLM_H
#define SIM_LLM_H

#include "mx_time.h"
#include "sim.h"

#include <stddef.h>
#include <stdint.h>

struct spec_cluster;
struct spec_plan;
struct spec_profile;
struct wl_trace;

/* A compiled decoder simulation. Opaque; read-only after sim_llm_new, so runs may share it. */
struct sim_llm;

/* Compile the decoder groups of plan (its groups whose models are decoders in db; the plan must be
 * static if it has any) and the requests of trace whose models are decoders. Checks what the
 * engine relies on and names the file and place otherwise (MX_EINPUT): the plan against cluster
 * and profile (spec_plan_validate), a group hosts one kind of model, each decoder config's token
 * grid covers its group's max_batch_tokens, every stage keeps a positive KV pool, the trace has
 * token counts, and no request is longer than its model's context. trace must outlive the result;
 * the other inputs are only read during the call. A plan or trace without decoders gives a world
 * of no groups and no requests. Free with sim_llm_free(). */
int sim_llm_new(const struct spec_cluster *cluster, const char *cluster_path,
                const struct spec_profile *db, const char *db_path, const struct spec_plan *plan,
                const struct wl_trace *trace, struct sim_llm **out);
void sim_llm_free(struct sim_llm *w);

/* Inter-token gaps are counted in a histogram of 256 bins per power of two of nanoseconds: a
 * percentile read from it is low by less than 0.4%. */
#define SIM_LLM_GAP_BINS (64 * 256)

/* The requests of trace whose models are not decoders (their plan model's base in db; a model the
 * plan lacks counts as an encoder, for sim_world_new to name), renumbered over those models in
 * trace order; NULL when there is none. Free with wl_trace_free(). */
struct wl_trace *sim_encoder_requests(const struct spec_plan *plan, const struct spec_profile *db,
                                      const struct wl_trace *trace);

/* Per-request outcomes of the decoder requests, in trace order (sim_llm_request maps them back to
 * the trace), and per-group totals. */
struct sim_llm_results {
    size_t n;
    uint8_t *status;       /* [n] enum sim_status: good, late, rejected or no_replica */
    int32_t *group;        /* [n] plan group index (segment 0), -1 when never dispatched */
    mx_ns *first_token_ns; /* [n] first token's time (reply included), MX_NS_NEVER if none */
    mx_ns *finish_ns;      /* [n] last token's time; for a refused request, when refused */
    uint32_t *generated;   /* [n] tokens generated */
    uint32_t *preemptions; /* [n] times preempted */
    uint32_t n_groups;     /* decoder groups */
    uint64_t *iterations;  /* [n_groups] iterations run */
    uint64_t *tokens;      /* [n_groups] tokens computed (prefill and decode) */
    mx_ns *busy_ns;        /* [n_groups] time stage 0 was busy */
    double *kv_mean;       /* [n_groups] time-weighted mean of the largest stage's pool share */
    double *kv_max;        /* [n_groups] its largest value */
    uint64_t *preempted;   /* [n_groups] preemptions */
    /* Inter-token gaps of the requests arriving in the measured window (sim_llm_window): */
    uint64_t gaps, gap_sum_ns;
    uint64_t *gap_bins; /* [SIM_LLM_GAP_BINS] */
};

/* The measured window: requests arriving in [first + warmup_s, last - warmup_s] (first and last
 * arrival of the whole trace), as the encoder summaries trim (sim_metrics.h); in ns. */
void sim_llm_window(const struct sim_llm *w, double warmup_s, mx_ns *from_ns, mx_ns *to_ns);

/* Run every request to its end, counting the gaps of the requests in the window of warmup_s. Free
 * *out with sim_llm_results_free(). Cost: O(iterations * requests per iteration + requests *
 * log(groups)), no allocation in the loop. */
int sim_llm_run(const struct sim_llm *w, double warmup_s, struct sim_llm_results **out);
void sim_llm_results_free(struct sim_llm_results *r);

/* Read-only facts of a compiled world, for summaries and writers. */
size_t sim_llm_requests(const struct sim_llm *w);
size_t sim_llm_request(const struct sim_llm *w, size_t i); /* its index in the trace */
uint32_t sim_llm_group_count(const struct sim_llm *w);
uint32_t sim_llm_group_plan_index(const struct sim_llm *w, uint32_t g);
int32_t sim_llm_group_id(const struct sim_llm *w, uint32_t g);     /* the plan's id */
uint32_t sim_llm_request_model(const struct sim_llm *w, size_t i); /* its trace model */
const struct wl_trace *sim_llm_trace(const struct sim_llm *w);

/* What a real executor driving the world (sim_llm_control.h) needs of it: the KV block size in
 * tokens; per decoder group its stages, hosted models (plan model indices, in the group's order:
 * an iteration's slot), batch limits, each stage's KV pool and each model's block there (bytes on
 * each device of the stage); and the world's cost of one stage of an iteration of tokens tokens,
 * pairs prefill attention pairs and context decode context tokens (docs/decoders.md, "Cost of an
 * iteration", the cluster's stage factor included). */
uint32_t sim_llm_block_tokens(const struct sim_llm *w);
uint32_t sim_llm_group_stages(const struct sim_llm *w, uint32_t g);
uint32_t sim_llm_group_model_count(const struct sim_llm *w, uint32_t g);
uint32_t sim_llm_group_model(const struct sim_llm *w, uint32_t g, uint32_t slot);
uint32_t sim_llm_group_max_batch_tokens(const struct sim_llm *w, uint32_t g);
uint32_t sim_llm_group_max_seqs(const struct sim_llm *w, uint32_t g);
int64_t sim_llm_group_pool_bytes(const struct sim_llm *w, uint32_t g, uint32_t s);
int64_t sim_llm_block_bytes(const struct sim_llm *w, uint32_t g, uint32_t slot, uint32_t s);
mx_ns sim_llm_stage_ns(const struct sim_llm *w, uint32_t g, uint32_t slot, uint32_t s,
                       uint32_t tokens, uint64_t pairs, uint64_t context);
/* Request i: its arrival, plan model, and input and output tokens; the constant overheads
 * (client, dispatch, exec, reply; docs/decoders.md, "Overheads and dispatch"). */
mx_ns sim_llm_request_arrival_ns(const struct sim_llm *w, size_t i);
uint32_t sim_llm_request_plan_model(const struct sim_llm *w, size_t i);
uint32_t sim_llm_request_input(const struct sim_llm *w, size_t i);
uint32_t sim_llm_request_output(const struct sim_llm *w, size_t i);
struct sim_llm_overheads {
    mx_ns client_ns, dispatch_ns, exec_ns, reply_ns;
};
struct sim_llm_overheads sim_llm_overheads(const struct sim_llm *w);

#endif
