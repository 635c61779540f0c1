/* A placement plan: groups of devices, each with a parallel config and the models it hosts; or a
 * schedule of such placements that change over time (Clockwork++).
 *
 * JSON form ("muxplan-plan/1"):
 *   {"format": "muxplan-plan/1",
 *    "models": [{"name": "m0", "base": "bert-1.3b"}, ...],
 *    "groups": [{"id": 0, "devices": [0, 1, 2, 3], "dp": 1, "op": 1, "pp": 4,
 *                "models": ["m0", "m3"]}, ...]}
 * or, for a plan that changes over time, "schedule" instead of "groups":
 *    "schedule": [{"start_s": 0, "groups": [...]}, {"start_s": 60, "groups": [...]}]
 * Segment k applies to requests arriving in [start_k, start_{k+1}); the first also takes any
 * request before its start. Group "models" entries are names or objects with a "name" (other
 * members of such objects are informational). A group hosting decoders may have a "scheduler"
 * (spec_llm.h; defaults otherwise), and the planner records its "kv_pool_bytes" and "predicted"
 * figures, which are carried through unchanged. Optional top-level members "policy", "dispatch"
 * (the dispatch policy the planner scored it with, which simulate and serve default to),
 * "max_batch" (the batch size the planner scored it with, 1 to SPEC_PLAN_MAX_BATCH, which simulate
 * defaults to; 1 when absent), "parameters", "predicted", "provenance", "unplaced" and "note" are
 * carried through unchanged. */
#ifndef SPEC_PLAN_H
#define SPEC_PLAN_H

/* The longest weight-load time a group may state (seconds): about 11.6 days. */
#define SPEC_PLAN_MAX_LOAD_S 1e6
/* The largest "max_batch" a plan may state (simulate --max-batch's limit). */
#define SPEC_PLAN_MAX_BATCH 4096

#include "spec_llm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct spec_profile;
struct spec_config;
struct spec_cluster;

struct spec_plan_model {
    char *name;
    char *base;
};

struct spec_plan_group {
    int32_t id; /* unique within its segment */
    int32_t dp, op, pp;
    uint32_t n_devices;
    uint32_t *devices; /* [n_devices]: stage k uses devices[k * op .. (k + 1) * op) */
    uint32_t n_models;
    uint32_t *models;   /* [n_models] indices into plan.models */
    double load_s;      /* weights load for this long from the segment's start; the group serves
                           nothing meanwhile (0: loaded already) */
    bool has_scheduler; /* written with a "scheduler" (decoder groups) */
    struct spec_scheduler scheduler; /* defaults unless given */
    json_t *info; /* "kv_pool_bytes" and "predicted" when given, owned; or NULL */
};

struct spec_plan_segment {
    double start_s;
    uint32_t n_groups;
    struct spec_plan_group *groups;
};

struct spec_plan {
    char *path; /* the file it was read from, for messages ("" when built) */
    uint32_t n_models;
    struct spec_plan_model *models;
    uint32_t n_segments; /* 1 for a static plan */
    struct spec_plan_segment *segments;
    int static_form; /* written with "groups" (1) rather than "schedule" (0) */
    json_t *extra;   /* the optional top-level members, owned; never NULL */
};

/* Read and check the plan's own consistency (names, ids, references, schedule order). Checks
 * against a cluster and profile are spec_plan_validate()'s. The caller frees *out with
 * spec_plan_free(). */
int spec_plan_read(const char *path, struct spec_plan **out);

/* Write p atomically. */
int spec_plan_write(const struct spec_plan *p, const char *path);

void spec_plan_free(struct spec_plan *p);

/* The dispatch policy the plan was scored with (its "dispatch" member: a name the simulator
 * knows), or NULL. */
const char *spec_plan_dispatch(const struct spec_plan *p);

/* The batch size the plan was scored with (its "max_batch" member), 1 when it has none. */
uint32_t spec_plan_max_batch(const struct spec_plan *p);

/* Index of the model called name, or -1. */
int32_t spec_plan_find_model(const struct spec_plan *p, const char *name);

/* A one-line description of p's groups, runs of equal configs counted: "8 x (1,1,8)",
 * "2 x (1,1,4) + 1 x (1,2,2)"; a schedule gives its last window: "10 windows of 8 x (1,1,1)".
 * The caller frees it. */
char *spec_plan_describe_groups(const struct spec_plan *p);

/* Check p against a cluster and a profile: every base is profiled; every group has dp = 1, exactly
 * dp * op * pp distinct devices of the cluster, tensor-parallel stages within one node, no device
 * shared with another group of its segment, a profiled config for each model it hosts, and the sum
 * of their per-device weight bytes within the memory budget. Messages name the plan file, the
 * group, and the cluster or profile file (cluster_path, db_path). */
int spec_plan_validate(const struct spec_plan *p, const struct spec_cluster *c,
                       const char *cluster_path, const struct spec_profile *db,
                       const char *db_path);

#endif
