/* Tensor-parallel teams (rt_team.h). */
#include "rt_team.h"

#include "mx_alloc.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

void rt_team_init(struct rt_team *t, unsigned size)
{
    *t = (struct rt_team){.size = size ? size : 1};
    t->parts = MX_NEW_ARRAY(float *, t->size);
    atomic_init(&t->arrived, 0);
    atomic_init(&t->generation, 0);
}

void rt_team_release(struct rt_team *t)
{
    if (!t->parts)
        return;
    free(t->parts);
    *t = (struct rt_team){0};
}

void rt_team_sync(struct rt_team *t)
{
    if (t->size == 1)
        return;
    unsigned generation = atomic_load(&t->generation);
    if (atomic_fetch_add(&t->arrived, 1) + 1 == t->size) {
        atomic_store(&t->arrived, 0);
        atomic_fetch_add(&t->generation, 1); /* releases the others */
        return;
    }
    while (atomic_load(&t->generation) == generation)
        sched_yield();
}

void rt_team_allreduce(struct rt_team *t, unsigned rank, float *buf, float *scratch, size_t n)
{
    if (t->size == 1)
        return;
    size_t lo = n * rank / t->size, hi = n * (rank + 1) / t->size;
    t->parts[rank] = buf;
    rt_team_sync(t); /* every part published */
    for (size_t i = lo; i < hi; i++) {
        float sum = 0.0f;
        for (unsigned r = 0; r < t->size; r++)
            sum += t->parts[r][i];
        scratch[i] = sum;
    }
    rt_team_sync(t); /* every part read */
    for (unsigned r = 0; r < t->size; r++)
        memcpy(t->parts[r] + lo, scratch + lo, (hi - lo) * sizeof(float));
    rt_team_sync(t); /* every slice written */
}
