/* Internals of the decoder simulator (sim_llm.h): the compiled world, shared by every run, and the
 * state of one run. The rules they implement are docs/decoders.md's; each is written once, in the
 * file named beside it. */
#ifndef SIM_LLM_INT_H
#define SIM_LLM_INT_H

#include "sim_llm.h"
#include "spec_llm.h"

struct spec_cluster;
struct spec_config;
struct spec_profile;

#include <stdbool.h>

/* One hosted model's costs on its group (compiled by sim_llm_world.c). */
struct llm_cost {
    uint32_t model;             /* plan model index */
    uint32_t width;             /* max_batch_tokens + 1 */
    const mx_ns *dense_ns;      /* [pp][width]: dense cost of T tokens on stage s */
    const double *pair_ns;      /* [pp] a_s: per prefill attention pair */
    const double *ctx_ns;       /* [pp] b_s: per decode context token */
    const mx_ns *fixed_ns;      /* [pp] c_s: per iteration */
    const int64_t *block_bytes; /* [pp] bytes of one KV block on each device of the stage */
    mx_ns full_batch_ns;        /* t_B: max_batch_tokens prefill tokens through every stage */
};

/* A decoder group as compiled. */
struct llm_group {
    uint32_t plan_index; /* in the plan's (only) segment */
    int32_t id;          /* the plan's id */
    uint32_t pp;
    uint32_t n_models;
    const struct llm_cost *costs; /* [n_models], in the group's model order */
    const int64_t *pool_bytes;    /* [pp] KV pool of each stage's devices */
    uint32_t max_batch_tokens, max_seqs;
    enum spec_mm_policy policy;
};

/* A model's replicas, in plan group order: where dispatch chooses. */
struct llm_replica {
    uint32_t group; /* decoder group index */
    uint32_t slot;  /* the model's position among the group's models */
};

struct sim_llm {
    const struct wl_trace *trace;
    struct spec_llm_settings settings;
    mx_ns client_ns, dispatch_ns, exec_ns, fixed_ns, reply_ns; /* constant overheads */

    uint32_t n_groups;
    struct llm_group *groups;
    uint32_t n_costs;
    struct llm_cost *costs; /* [n_costs]: every (group, model) pair, group by group */
    uint32_t n_models;      /* plan models */
    uint32_t *rep_begin;    /* [n_models + 1]: model m's replicas are replicas[rep_begin[m]..) */
    struct llm_replica *replicas;

    /* The decoder requests, in trace order. */
    size_t n;
    size_t *trace_index;                           /* [n] */
    uint32_t *model;                               /* [n] plan model index */
    mx_ns *arrival_ns;                             /* [n] */
    uint32_t *input, *output;                      /* [n] tokens */
    mx_ns *ttft_slo_ns, *tpot_slo_ns, *e2e_slo_ns; /* [n] MX_NS_NEVER for none */
    uint32_t *next_same_model; /* [n] the next request of the same model (n: none) */

    void *store; /* the cost tables' memory */
};

/* A model's waiting requests in priority order (request index: arrival, then trace order): new
 * ones join at the back, preempted ones return to their place (sim_llm_queue.c). */
struct llm_queue {
    uint32_t *slot; /* slot[head .. head + len) */
    uint32_t head, len, cap;
};

/* The per-model state of a group during a run. */
struct llm_lane {
    struct llm_queue waiting;
    uint32_t *running; /* [max_seqs] in priority order */
    uint32_t n_running;
    uint32_t n_in_flight; /* running requests in an iteration in flight */
};

/* An iteration in a group's pipeline. */
struct llm_flight {
    mx_ns end_ns;  /* when its last stage finishes (MX_NS_NEVER: not known yet, controlled) */
    uint32_t slot; /* its model's position in the group */
    uint32_t n;
    uint32_t *req;    /* [entries] its requests, in the order they joined it */
    uint32_t *tokens; /* [entries] the tokens each computes */
};

struct llm_group_state {
    struct llm_lane *lanes;     /* [n_models] */
    struct llm_flight *flights; /* ring of [pp] */
    uint32_t first_flight, n_flights;
    mx_ns *stage_free_ns; /* [pp] */
    int64_t *used_bytes;  /* [pp] */
    mx_ns stage0_free_ns;
    bool stage0_pending; /* a formation is due when stage 0 frees */
    bool dirty;          /* something changed since the last formation */
    bool touched;        /* in the run's touched list */
    uint32_t last_slot;  /* the model served last, for round-robin */
    uint32_t n_short;    /* running requests short of blocks: no new request may start */
    /* Over the requests dispatched here and not finished or refused: */
    int64_t outstanding_tokens; /* prefill tokens left + output tokens left (least-tokens) */
    int64_t prefill_left;       /* prefill tokens left (Q of best-ttft) */
    int64_t transit_prefill;    /* the part of prefill_left not received yet */
    struct llm_queue transit;   /* requests dispatched here, not received yet, in that order */
    /* metrics */
    mx_ns kv_since_ns;
    double kv_share, kv_area, kv_max;
};

/* Request flags. */
enum { LLM_IN_FLIGHT = 1, LLM_IN_ITERATION = 2, LLM_RUNNING = 4, LLM_SHORT = 8 };

/* The most models a decoder group may host. */
#define SIM_LLM_MAX_GROUP_MODELS 256

struct llm_run {
    const struct sim_llm *w;
    struct sim_llm_results *r;
    mx_ns measure_from_ns, measure_to_ns; /* arrivals whose gaps are counted */
    mx_ns *last_token_ns;                 /* per request */
    struct llm_group_state *gs;
    /* per request */
    uint32_t *prefill_len; /* L */
    uint32_t *computed;    /* c */
    uint32_t *blocks;
    uint8_t *flags;
    int32_t *at_group; /* decoder group it was dispatched to, or -1 */
    uint32_t *at_slot; /* its model's position in that group */
    mx_ns *ready_ns;   /* when it may be scheduled, once admitted */
    /* A run driven by a real executor (sim_llm_control.h): stage and iteration ends are told,
     * not predicted, and the requests each formation preempts are listed. */
    bool controlled;
    uint32_t *preempted_now, n_preempted_now;
    mx_ns now;
    uint32_t *round_robin; /* [n_models] next replica of round-robin dispatch */
    uint32_t
        *next_of_model; /* [n_models] each model's first request not dispatched yet (n: none) */
    /* the order of group wake-ups: an indexed heap over groups (sim_llm_run.c) */
    uint32_t *heap, *heap_pos;
    mx_ns *wake_ns;
    uint32_t n_heap;
    uint32_t *touched;
    uint32_t n_touched;
};

static inline mx_ns sim_llm__decided_ns(const struct sim_llm *w, size_t i)
{
    return w->arrival_ns[i] + w->client_ns;
}

static inline mx_ns sim_llm__received_ns(const struct sim_llm *w, size_t i)
{
    return sim_llm__decided_ns(w, i) + w->dispatch_ns;
}

static inline mx_ns sim_llm__ready_ns(const struct sim_llm *w, size_t i)
{
    return sim_llm__received_ns(w, i) + w->exec_ns;
}

/* The prefill tokens request i has left: L - c while in its prefill, else 0. */
static inline uint32_t sim_llm__prefill_left(const struct llm_run *run, uint32_t i)
{
    uint32_t L = run->prefill_len[i], c = run->computed[i];
    return c < L ? L - c : 0;
}

/* The gap histogram's bin of a gap of ns >= 1 nanoseconds: 256 bins per power of two. */
static inline uint32_t sim_llm__gap_bin(uint64_t ns)
{
    uint32_t e = 63u - (uint32_t)__builtin_clzll(ns);
    uint32_t m = e >= 8 ? (uint32_t)(ns >> (e - 8)) & 255u : (uint32_t)(ns << (8 - e)) & 255u;
    return e * 256u + m;
}

/* sim_llm_world.c: compiling. sim_llm__setup fills w's trace, settings and constant overheads
 * (their means, in ns) for n_models world models. */
void sim_llm__setup(struct sim_llm *w, const struct spec_cluster *cluster,
                    const struct wl_trace *trace, uint32_t n_models);

/* Cost tables are bump-allocated in a store sized beforehand (sim_llm__cost_bytes per table). */
struct llm_store {
    char *base;
    size_t used;
};
size_t sim_llm__cost_bytes(uint32_t pp, uint32_t max_batch_tokens);
/* Compile the costs of model (its index) with config cfg, under the cluster's stage factor, for
 * iterations of up to max_batch_tokens; MX_EINPUT naming the profile when a stage costs too much.
 */
int sim_llm__compile_cost(const struct spec_llm_settings *settings, const struct spec_config *cfg,
                          double factor, uint32_t max_batch_tokens, uint32_t model,
                          const char *base, const char *db_path, struct llm_store *st,
                          struct llm_cost *out);
/* Gather w->trace's requests of decoder models: trace model t is world model model_of[t], of
 * base bases[...] and name names[...]; checks token counts against the context. */
int sim_llm__gather(struct sim_llm *w, const struct spec_profile *db, const int32_t *model_of,
                    const char *const *bases, const char *const *names, const char *trace_path);

/* Free what sim_llm__gather made. */
void sim_llm__release_requests(struct sim_llm *w);

/* Each model's replicas, in group order: w->rep_begin and w->replicas from w's groups. */
void sim_llm__index_replicas(struct sim_llm *w);

/* sim_llm_run.c: sim_llm_run, with the steady-decoding shortcut (sim_llm_fast.c) on or off (the
 * same results either way; tests compare them). */
int sim_llm__run(const struct sim_llm *w, double warmup_s, bool shortcut,
                 struct sim_llm_results **out);

/* sim_llm_run.c: a run's state and the events both the engine and the controller apply. */
struct sim_llm_results *sim_llm__results_new(const struct sim_llm *w);
void sim_llm__run_init(struct llm_run *run, const struct sim_llm *w, struct sim_llm_results *r);
void sim_llm__run_release(struct llm_run *run);
void sim_llm__dispatch_request(struct llm_run *run, uint32_t i);
void sim_llm__admit_request(struct llm_run *run, uint32_t i);
void sim_llm__end_iteration(struct llm_run *run, uint32_t g);
/* Close the time-weighted pool records at run->now (the last event). */
void sim_llm__finish_records(struct llm_run *run);

/* sim_llm_form.c: the iteration rules. sim_llm__form launches at most one iteration and says
 * whether it did. */
bool sim_llm__form(struct llm_run *run, uint32_t g);
/* The most a stage's attention term may add (1e5 s): sums of times stay far from overflow. */
#define SIM_LLM_MAX_ATTENTION_NS 1e14

/* A stage's cost of an iteration (docs/decoders.md): dense(T) + round(a P + b D) + c, at least
 * 1 ns. round(x) = floor(x + 0.5), which truncation gives for x >= 0. */
static inline mx_ns sim_llm__stage_ns(const struct llm_cost *cost, uint32_t s, uint32_t tokens,
                                      uint64_t pairs, uint64_t context)
{
    double x = cost->pair_ns[s] * (double)pairs + cost->ctx_ns[s] * (double)context;
    mx_ns attention =
        x < SIM_LLM_MAX_ATTENTION_NS ? (mx_ns)(x + 0.5) : (mx_ns)SIM_LLM_MAX_ATTENTION_NS;
    mx_ns ns = cost->dense_ns[(size_t)s * cost->width + tokens] + attention + cost->fixed_ns[s];
    return ns > 0 ? ns : 1;
}
uint32_t sim_llm__blocks_for(uint32_t tokens, uint32_t block_tokens);
/* Add count blocks of cost's model to every stage of g (negative: return them), keeping the
 * time-weighted record of the largest stage share at run->now. */
void sim_llm__change_blocks(struct llm_run *run, uint32_t g, const struct llm_cost *cost,
                            int64_t count);
/* How many more blocks of cost's model g's pool can take on every stage, at most want. */
uint32_t sim_llm__blocks_fit(const struct llm_run *run, uint32_t g, const struct llm_cost *cost,
                             uint32_t want);
/* Return request i's blocks (it finished or was preempted) and clear its shortage. */
void sim_llm__release(struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i);

/* sim_llm_fast.c: after g launched an iteration at run->now, run as many steady decode
 * iterations as nothing else can disturb, in closed form (the engine only, not a controlled run).
 */
void sim_llm__fast_forward(struct llm_run *run, uint32_t g);

/* sim_llm_policy.c: the multi-model order, dispatch and admission. */
uint32_t sim_llm__model_order(const struct llm_run *run, uint32_t g, uint32_t *order);
int32_t sim_llm__dispatch(struct llm_run *run, uint32_t i); /* a replica index, or -1 */
bool sim_llm__admit(const struct llm_run *run, uint32_t g, uint32_t slot, uint32_t i);

/* sim_llm_queue.c: priority-ordered lists of request indices. */
void sim_llm__queue_release(struct llm_queue *q);
void sim_llm__queue_push(struct llm_queue *q, uint32_t i); /* at i's place */
static inline uint32_t sim_llm__queue_head(const struct llm_queue *q)
{
    return q->slot[q->head];
}
static inline void sim_llm__queue_pop(struct llm_queue *q)
{
    q->head++;
    q->len--;
}
/* Insert i at its place in list[0..n) (room for one more). */
void sim_llm__insert_sorted(uint32_t *list, uint32_t n, uint32_t i);

#endif
