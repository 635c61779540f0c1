/* The cluster spec: devices, memory budget, and the serving stack's overheads (DESIGN §4.2).
 *
 * JSON form ("muxplan-cluster/1"):
 *   {"format": "muxplan-cluster/1", "devices": 16, "devices_per_node": 8,
 *    "mem_budget_bytes": 13958643712, "load_bandwidth_bytes_per_s": 1.2e10,
 *    "overheads": {"preset": "alpaserve", "client": 0.0025, "dispatch": {"mean": 0.0025, "sd":
 * 0.0005}, "exec": 0.005, "fixed": 0.004, "reply": 0, "stage_factor": 1, "stage_factor_per_pp":
 * 0.009}, "cpu_cores": [0, 1]} Every overhead member is optional; a preset sets them first and the
 * members given override it. */
#ifndef SIM_CLUSTER_H
#define SIM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

/* The overhead terms, in the order a request meets them. */
enum sim_overhead_term {
    SIM_OH_CLIENT,   /* client to controller: arrival to dispatch decision */
    SIM_OH_DISPATCH, /* controller to group: decision to admission */
    SIM_OH_EXEC,     /* group to first stage: admission to earliest stage-0 start */
    SIM_OH_FIXED,    /* safety margin added to the predicted finish at admission only */
    SIM_OH_REPLY,    /* last stage to client: added to every finish time */
    SIM_OH_COUNT
};

/* One term: a constant (sd_s == 0) or |Normal(mean_s, sd_s)| drawn per request. */
struct sim_overhead {
    double mean_s;
    double sd_s;
};

struct sim_overheads {
    struct sim_overhead term[SIM_OH_COUNT];
    double stage_factor;        /* every stage latency is multiplied by */
    double stage_factor_per_pp; /* ... stage_factor * (1 + stage_factor_per_pp * pp) */
    char preset[32];            /* the preset named, or "" */
};

/* The highest core number "cpu_cores" may name. */
#define SIM_CLUSTER_MAX_CORE 1023

struct sim_cluster {
    uint32_t devices;
    uint32_t devices_per_node;
    int64_t mem_budget_bytes;          /* weight memory per device */
    double load_bandwidth_bytes_per_s; /* loading weights onto a device; 0: not given */
    struct sim_overheads overheads;
    uint32_t n_cpu_cores;                         /* 0, or devices: "cpu_cores" was given */
    uint32_t cpu_cores[SIM_CLUSTER_MAX_CORE + 1]; /* the CPU runtime runs device d on core [d] */
};

/* JSON member names of the terms: "client", "dispatch", "exec", "fixed", "reply". */
extern const char *const sim_overhead_names[SIM_OH_COUNT];

/* Fill out with the preset called name ("none", "alpaserve", "alpaserve-fast"); false if unknown.
 */
bool sim_overheads_preset(const char *name, struct sim_overheads *out);

/* Whether every term is a constant (what the fast path requires). */
bool sim_overheads_constant(const struct sim_overheads *o);

/* Read and validate a cluster spec; errors name the file and the member. */
int sim_cluster_read(const char *path, struct sim_cluster *out);

/* Write a cluster spec (atomic). */
int sim_cluster_write(const struct sim_cluster *c, const char *path);

#endif
