/* The decoder runtime's shared state: the controller (rt_llm.c), the workers (rt_llm_worker.c)
 * and the report (rt_llm_report.c). Internal to src/runtime. */
#ifndef RT_LLM_INT_H
#define RT_LLM_INT_H

#include "kern_decoder.h"
#include "rt_int.h"
#include "rt_llm.h"
#include "sim_llm_control.h"

#include <pthread.h>
#include <stdatomic.h>

struct prof_arch;

/* An iteration of a group on its way through the stages: what the scheduler formed, the
 * requests whose KV cache every stage frees before running it, and its activations between two
 * stages. A group has pp of them, used in turn (the scheduler never has more in flight). */
struct llm_flight {
    uint32_t slot; /* the model's position in the group */
    uint32_t n;    /* entries */
    uint32_t *req, *tokens, *cached;
    bool *emits;
    uint32_t n_release, release_cap;
    uint32_t *release; /* preempted at its formation, or finished since the last formation */
    uint32_t rows;     /* sum of tokens */
    uint64_t pairs, context;
    int64_t *next;     /* [entries] the token each emitting entry got (last stage) */
    float *x;          /* [max_batch_tokens][hidden] between stages */
    mx_ns handed_wall; /* when the stage before handed it on */
};

/* One stage of a decoder group: its op workers and its inbox of flights (stage > 0). */
struct llm_unit {
    uint32_t group, stage;
    struct rt_team team;
    struct rt_queue inbox;
    uint32_t job; /* the flight being run, or RT_STOP */
    mx_ns last_end_wall;
    atomic_bool failed;
    bool warming;
    /* Leader's measurements: per iteration run, what it took and what the world predicted. */
    size_t n_runs, runs_cap;
    mx_ns *run_ns, *predicted_ns;
};

/* A decoder group at run time. */
struct llm_group_rt {
    uint32_t pp, op, n_models;
    uint32_t max_batch_tokens;
    int64_t max_hidden;
    struct llm_unit *units; /* [pp] */
    struct llm_flight *flights;
    uint32_t next_flight; /* the flight the next formation fills (stage 0's leader only) */
    atomic_uint wake;     /* bumped whenever a formation may now succeed */
    /* Requests that finished since the last formation (under the run's lock). */
    uint32_t n_finished, finished_cap;
    uint32_t *finished;
};

/* One hosted model's stage on one rank. */
struct llm_model_stage {
    const struct prof_arch *arch; /* NULL: not built */
    struct kern_dec_shape shape;
    int32_t layer_begin, layer_end;
    bool first, last;
    struct kern_dec_layer *layers; /* [layer_end - layer_begin] */
    struct kern_dec_ends ends;
    struct kern_dec_scratch *scratch;
    uint32_t pool;     /* the rank's pool of its KV shape */
    double profiled_s; /* the profile's cost of the warm-up iteration here (stage factor 1) */
};

struct llm_worker {
    struct llm_run *run;
    struct llm_group_rt *group;
    struct llm_unit *unit;
    uint32_t g; /* decoder group */
    unsigned rank;
    uint32_t device, core;
    struct llm_model_stage *models; /* [group's n_models] */
    uint32_t n_pools;
    struct kern_kv_pool **pools;     /* [n_pools] one per KV shape of the hosted models */
    int64_t *pool_block_bytes;       /* [n_pools] real bytes of one block */
    int64_t kv_bytes, kv_peak_bytes; /* held now, and at most */
    struct kern_kv_table *tables;    /* [world requests] this rank's blocks of each */
    struct kern_dec_seq *seqs;
    int64_t *ids, *rows, *next;
    float *x; /* [max_batch_tokens][max hidden] */
    struct kern_allreduce reduce;
    pthread_t thread;
    bool started;
    int rc;
    char error[512];
    uint32_t *warm_runs; /* [n_models] */
    double *warm_s;      /* [n_models][RT_WARM_SAMPLES] */
};

struct llm_run {
    const struct sim_llm *w;
    const struct spec_plan *plan;
    const struct spec_profile *db;
    const struct rt_options *o;
    struct rt_llm_report *report;
    size_t n;
    uint32_t n_groups;
    struct llm_group_rt *groups;
    uint32_t n_workers;
    struct llm_worker *workers;
    mx_ns wall0, trace0;
    mx_ns last_end_wall; /* under the lock */
    pthread_barrier_t ready;
    pthread_mutex_t lock; /* guards control, the generated tokens, the counts */
    struct sim_llm_control *control;
    atomic_bool closing; /* every released request ended: workers stop */
    size_t ended;        /* requests ended (under the lock) */
    /* Per request: its generated tokens (gen[gen_start[i] ..]) and its prompt's seed. */
    size_t *gen_start;
    int32_t *gen;
};

static inline mx_ns rt_llm__trace_time(const struct llm_run *r, mx_ns wall)
{
    return r->trace0 + (wall - r->wall0);
}

static inline mx_ns rt_llm__wall_time(const struct llm_run *r, mx_ns trace)
{
    return r->wall0 + (trace - r->trace0);
}

/* The warm-up iteration's prefill chunk in group g (rt_llm.c). */
uint32_t rt_llm__warm_tokens(const struct llm_run *r, uint32_t g);

/* A worker's thread body. */
void *rt_llm__worker_main(void *worker);

/* The token at position pos of request i: its prompt's (from the seed) or one it generated. */
int64_t rt_llm__token(const struct llm_run *r, uint32_t i, int64_t pos, int64_t vocab);

/* The report's figures from the run's measurements (rt_llm_report.c). */
void rt_llm__report_calibration(struct llm_run *r);
void rt_llm__report_measurements(struct llm_run *r);

#endif
