/* The op threads of one tensor-parallel stage working as a team: a barrier, and an all-reduce of
 * float arrays through shared memory.
 *
 * Rank 0 (the leader) takes work and shares it with the others between two barriers; inside a
 * layer the ranks sum their partial GEMM outputs with rt_team_allreduce(). The sum is taken in
 * rank order for every element, so its result does not depend on timing. A team of one never
 * waits.
 *
 * Waiting ranks poll (yielding the core to any other runnable thread) rather than sleep: on the
 * machines measured, a core that sleeps even 5 ms runs the next layer about 1.5 times slower
 * (docs/runtime.md), and a device that waits for work is what a serving system keeps hot. */
#ifndef RT_TEAM_H
#define RT_TEAM_H

#include <stdatomic.h>
#include <stddef.h>

struct rt_team {
    unsigned size;
    atomic_uint arrived;    /* ranks at the current barrier */
    atomic_uint generation; /* barriers passed */
    float **parts;          /* [size] each rank's array during an all-reduce */
};

void rt_team_init(struct rt_team *t, unsigned size);
void rt_team_release(struct rt_team *t);

/* Wait until every rank of the team has called it. */
void rt_team_sync(struct rt_team *t);

/* Every rank passes its own buf of n floats (and scratch of n floats); on return every buf holds
 * the element-wise sum over the ranks. Each rank sums one slice; three barriers. */
void rt_team_allreduce(struct rt_team *t, unsigned rank, float *buf, float *scratch, size_t n);

#endif
