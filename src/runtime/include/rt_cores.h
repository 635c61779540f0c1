/* Which CPU core runs each device of the CPU runtime: the cluster file's "cpu_cores" member.
 *
 * The member belongs to the runtime, not to the cluster model the simulator and the planner share
 * (spec_cluster.h accepts it and leaves it alone): "cpu_cores": [4, 5] runs device 0 on core 4 and
 * device 1 on core 5. Without it, device d runs on core d. Likewise "controller_core": 2 runs the
 * controller on core 2 (without it: a core no device uses, if there is one). */
#ifndef RT_CORES_H
#define RT_CORES_H

#include <stdint.h>

/* The highest core number "cpu_cores" and "controller_core" may name. */
#define RT_MAX_CORE 1023

/* Read "cpu_cores" from the cluster file at path, which has `devices` devices: one distinct core
 * per device. Without the member, *cores is NULL and *n 0. Errors are MX_EINPUT naming the file and
 * the entry. The caller frees *cores. */
int rt_cores_read(const char *path, uint32_t devices, uint32_t **cores, uint32_t *n);

/* Read "controller_core" from the cluster file at path: the core the runtime's controller runs on
 * (docs/runtime.md), or -1 without the member. Errors are MX_EINPUT naming the file and member. */
int rt_controller_core_read(const char *path, int32_t *core);

#endif
