/* The event engine's interference tracker: which stages of a segment run work on each node, and
 * when each one's work ends under the interference model (sim_interference.h). Every start or end
 * of work on a node changes its busy count and so the rate of the other work running there: the
 * tracker brings their remaining work up to date and hands each new end time to the engine, which
 * moves that stage's finish event. A decoder engine would track its iterations the same way, one
 * entry per (group, stage). Internal to src/sim. */
#ifndef SIM_BUSY_H
#define SIM_BUSY_H

#include "mx_time.h"
#include "spec_variability.h"

#include <stdbool.h>
#include <stdint.h>

struct sim__busy_stage {
    uint32_t node, devices;
    bool running;
    double remaining_ns; /* alone time left at since_ns */
    mx_ns since_ns;
    double stretch;  /* wall time per unit of alone time now: slowdown(busy) / slowdown(devices) */
    mx_ns finish_ns; /* when its work ends at the current stretch */
};

struct sim__busy {
    const struct spec_interference *f; /* borrowed */
    uint32_t n_nodes;
    uint32_t *busy;                /* [n_nodes] devices running work */
    uint32_t *node_begin;          /* [n_nodes + 1] into node_stages */
    uint32_t *node_stages;         /* the tracked stages of each node, ascending */
    struct sim__busy_stage *stage; /* [n_stages] by the world's stage index */
};

/* The engine moves stage s's finish event to finish_ns. */
typedef void (*sim__busy_moved)(void *arg, uint32_t s, mx_ns finish_ns);

/* Track stages [first, end) of a world of n_stages stages, stage s on node node[s] with
 * devices[s] devices. */
void sim__busy_init(struct sim__busy *b, const struct spec_interference *f, uint32_t n_stages,
                    uint32_t first, uint32_t end, const uint32_t *node, const uint32_t *devices);
void sim__busy_release(struct sim__busy *b);

/* Stage s starts work of alone time work_ns at now: returns when it ends; the other work on its
 * node is moved. */
mx_ns sim__busy_start(struct sim__busy *b, uint32_t s, double work_ns, mx_ns now,
                      sim__busy_moved moved, void *arg);

/* Stage s's work ended at now: the other work on its node is moved. */
void sim__busy_stop(struct sim__busy *b, uint32_t s, mx_ns now, sim__busy_moved moved, void *arg);

#endif
