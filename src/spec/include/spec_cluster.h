/* The cluster spec: devices, memory budget, and the serving stack's overheads (docs/simulator.md).
 *
 * JSON form ("muxplan-cluster/1"):
 *   {"format": "muxplan-cluster/1", "devices": 16, "devices_per_node": 8,
 *    "mem_budget_bytes": 13958643712, "load_bandwidth_bytes_per_s": 1.2e10,
 *    "overheads": {"preset": "alpaserve", "client": 0.0025, "dispatch": {"mean": 0.0025, "sd":
 * 0.0005}, "exec": 0.005, "fixed": 0.004, "reply": 0, "stage_factor": 1, "stage_factor_per_pp":
 * 0.009}, "cpu_cores": [0, 1], "decoder": {"dispatch": "least-tokens"},
 *    "interference": {"busy_slowdown": [1, 1.5]}, "stage_time": {"dist": "lognormal", "cv": 0.2}}
 * Every overhead member is optional; a preset sets them first and the members given override it.
 * "decoder" holds the settings of decoder groups (spec_llm.h); "interference" and "stage_time" how
 * real stage times vary (spec_variability.h; default: not at all). */
#ifndef SPEC_CLUSTER_H
#define SPEC_CLUSTER_H

#include "spec_llm.h"
#include "spec_variability.h"

#include <stdbool.h>
#include <stdint.h>

/* The most devices a cluster may have: 64 nodes of 1024, or 8192 nodes of 8 (docs/formats.md,
 * "Limits", says what planning such a cluster costs). */
#define SPEC_MAX_DEVICES 65536

/* The overhead terms, in the order a request meets them. */
enum spec_overhead_term {
    SPEC_OH_CLIENT,   /* client to controller: arrival to dispatch decision */
    SPEC_OH_DISPATCH, /* controller to group: decision to admission */
    SPEC_OH_EXEC,     /* group to first stage: admission to earliest stage-0 start */
    SPEC_OH_FIXED,    /* safety margin added to the predicted finish at admission only */
    SPEC_OH_REPLY,    /* last stage to client: added to every finish time */
    SPEC_OH_COUNT
};

/* One term: a constant (sd_s == 0) or |Normal(mean_s, sd_s)| drawn per request. */
struct spec_overhead {
    double mean_s;
    double sd_s;
};

struct spec_overheads {
    struct spec_overhead term[SPEC_OH_COUNT];
    double stage_factor;        /* every stage latency is multiplied by */
    double stage_factor_per_pp; /* ... stage_factor * (1 + stage_factor_per_pp * pp) */
    char preset[32];            /* the preset named, or "" */
};

struct spec_cluster {
    uint32_t devices;
    uint32_t devices_per_node;
    int64_t mem_budget_bytes;          /* weight memory per device */
    double load_bandwidth_bytes_per_s; /* loading weights onto a device; 0: not given */
    struct spec_overheads overheads;
    struct spec_llm_settings decoder;      /* how decoder groups serve (defaults when not given) */
    struct spec_interference interference; /* between a node's devices (n 0: none) */
    struct spec_dist stage_time;           /* a stage run's time over its latency (constant) */
};

/* JSON member names of the terms: "client", "dispatch", "exec", "fixed", "reply". */
extern const char *const spec_overhead_names[SPEC_OH_COUNT];

/* Fill out with the preset called name ("none", "alpaserve", "alpaserve-fast"); false if unknown.
 */
bool spec_overheads_preset(const char *name, struct spec_overheads *out);

/* Whether every term is a constant (what the fast path requires). */
bool spec_overheads_constant(const struct spec_overheads *o);

/* A cluster of no devices with every optional setting at its default (no overheads, default
 * decoder settings, no variability), for clusters built in code. */
void spec_cluster_defaults(struct spec_cluster *c);

/* Read and validate a cluster spec; errors name the file and the member. */
int spec_cluster_read(const char *path, struct spec_cluster *out);

/* Whether c says that real stage times vary: an interference model or a stage-time distribution
 * that draws anything but 1. */
bool spec_cluster_varies(const struct spec_cluster *c);

/* Write a cluster spec (atomic). */
int spec_cluster_write(const struct spec_cluster *c, const char *path);

#endif
