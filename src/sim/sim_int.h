/* Simulator internals shared by the world compiler, the two engines, dispatch policies and metrics.
 * Not part of the public interface (sim.h). */
#ifndef SIM_INT_H
#define SIM_INT_H

#include "sim.h"

#include <stdbool.h>

struct wl_trace;

/* A model hosted on a group: everything a request of that model needs there. */
struct sim_replica {
    uint32_t group;      /* global group index */
    uint32_t stage_base; /* the group's stage_base, kept here for the hot loops */
    uint32_t last_stage; /* stage_base + n_stages - 1: the clock earliest-free reads */
    uint32_t n_stages;
    uint32_t n_batches;
    const int32_t *batch_sizes; /* [n_batches], ascending, [0] == 1 */
    const mx_ns *latency_ns;    /* [n_batches][n_stages], stage factor applied, each >= 1 */
    mx_ns sum_ns;               /* sum of the batch-1 stage latencies */
    mx_ns max_ns;               /* the largest batch-1 stage latency: the bottleneck's */
};

struct sim_group {
    int32_t id; /* the plan's id */
    uint32_t segment;
    uint32_t n_stages;
    uint32_t stage_base; /* index of stage 0 in flat per-stage arrays */
    mx_ns ready_ns;      /* its stages load weights and serve nothing before this (0: none) */
};

/* One placement of a schedule and the requests it serves. */
struct sim_segment {
    mx_ns start_ns;
    size_t first, end; /* requests [first, end) in trace order */
    uint32_t first_group, n_groups;
    uint32_t *rep_begin; /* [n_models + 1]: model m's replicas are
                            replicas[rep_begin[m] .. rep_begin[m + 1]), in plan order */
    struct sim_replica *replicas;
    /* Every group's replicas share one batch-1 latency vector, so that on the fast path a group's
     * first and last stage clocks are all its state (sim__admit_uniform, sim_rules.h). */
    bool uniform;
};

/* Latency tables: profiled configs compiled once to integer nanoseconds with the cluster's stage
 * factor, in two stores. Entries are deduplicated by config; pointers into the stores are taken
 * (sim__tables_replica) only once every entry is added, since adding may move the stores. */
struct sim_tables {
    const struct spec_overheads *overheads; /* borrowed while adding */
    const char *db_path;                    /* borrowed, for messages */
    mx_ns *latency;                         /* store: per entry [n_batches][pp] */
    int32_t *batch;                         /* store: per entry [n_batches] */
    size_t n_latency, n_batch;
    struct sim_table_entry {
        const struct spec_config *cfg;
        size_t latency, batch; /* offsets into the stores */
    } * entries;
    uint32_t n_entries;
};

void sim__tables_init(struct sim_tables *t, const struct spec_overheads *o, const char *db_path);
/* Add cfg (of base, named in messages) and return its entry in *entry. A stage latency over 1e5 s
 * after the stage factor is MX_EINPUT: it keeps every sum of times far from int64 overflow. */
int sim__tables_add(struct sim_tables *t, const char *base, const struct spec_config *cfg,
                    uint32_t *entry);
/* Whether entries a and b have the same batch-1 stage latencies. */
bool sim__tables_same_batch1(const struct sim_tables *t, uint32_t a, uint32_t b);
/* Point rep's latency fields at entry (group fields are the caller's). */
void sim__tables_replica(const struct sim_tables *t, uint32_t entry, struct sim_replica *rep);
void sim__tables_release(struct sim_tables *t);

/* A group of one segment as the world builder takes it: trace model indices, and for each hosted
 * model its table entry. */
struct sim_group_spec {
    int32_t id;
    uint32_t n_stages; /* pp: every entry has this many stages */
    uint32_t n_models;
    const uint32_t *models; /* [n_models] trace model indices */
    const uint32_t *entry;  /* [n_models] table entries */
    mx_ns ready_ns;         /* the group serves nothing before this (0: from the start) */
};

struct sim_world {
    const struct wl_trace *trace;
    size_t n;
    mx_ns *arrival_ns;    /* [n] */
    mx_ns *deadline_ns;   /* [n] arrival + SLO */
    const int32_t *model; /* [n] trace model index (borrowed from the trace) */
    uint32_t n_models;
    uint32_t n_groups;
    struct sim_group *groups; /* [n_groups] over all segments, segment by segment */
    uint32_t n_stages;        /* over all groups */
    uint32_t max_stages;
    uint32_t n_segments;
    struct sim_segment *segments;
    mx_ns overhead_ns[SPEC_OH_COUNT];    /* means */
    mx_ns overhead_sd_ns[SPEC_OH_COUNT]; /* 0 for constants */
    bool constant_overheads;             /* every sd is 0: spec_overheads_constant() */
    struct sim_tables tables;            /* owns the latency tables replicas point into */
    /* Variability (docs/simulator.md): compiled by sim_world_new only (NULL arrays elsewhere). */
    struct spec_interference interference; /* the cluster's */
    uint32_t *stage_node;                  /* [n_stages] the node of the stage's devices */
    uint32_t *stage_devices;               /* [n_stages] how many devices it runs on (op) */
    struct spec_dist *dists;               /* [n_dists] [0]: the cluster's stage_time */
    uint32_t n_dists;
    uint32_t *stage_dist; /* [n_stages] each stage's distribution in dists */
    bool varies;          /* interference, or a distribution that draws anything but 1 */
};

/* Fill w's request arrays (arrival, deadline, model) from t, and its overheads from o. */
void sim__world_requests(struct sim_world *w, const struct wl_trace *t);
void sim__world_overheads(struct sim_world *w, const struct spec_overheads *o);

/* Build segment s's groups (global indices from first_group) and replica lists from specs, in
 * O(models + replicas); stages are numbered from *next_stage. Replicas are listed in group order
 * (the dispatch tie order). The segment's previous lists are freed. */
void sim__world_segment(struct sim_world *w, uint32_t s, const struct sim_group_spec *specs,
                        uint32_t n_specs, uint32_t *next_stage);

/* What the planner needs from a run: counts, no per-request results. Callers zero the arrays and
 * the sum; runs add to them. */
struct sim_counts {
    uint64_t *model_requests; /* [n_models] requests of each model */
    uint64_t *model_good;     /* [n_models] of them good */
    uint64_t *group_requests; /* [n_groups] requests dispatched to each group */
    mx_ns latency_sum_ns;     /* sum of finish - arrival over admitted requests */
    uint32_t *miss;           /* or NULL: the requests that were not good, in order, up to
                                 miss_cap of them */
    size_t miss_cap, n_miss;  /* n_miss counts every miss, also those past miss_cap */
};

/* The fast path over one segment in counting mode. */
void sim__fast_count_segment(const struct sim_world *w, uint32_t segment,
                             const struct sim_dispatch_policy *policy, struct sim_counts *c);

/* Run one segment with each engine, writing only that segment's requests and stages of r. */
void sim__fast_run_segment(const struct sim_world *w, uint32_t segment, const struct sim_options *o,
                           struct sim_results *r);
void sim__event_run_segment(const struct sim_world *w, uint32_t segment,
                            const struct sim_options *o, struct sim_results *r);

#endif
