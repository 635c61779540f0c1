/* Independent planner work items on threads, each thread with its own evaluation state. Items are
 * claimed from a shared counter, and every item writes only its own result, so results do not
 * depend on the thread count. */
#include "plan_int.h"

#include "mx_alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct pool {
    uint32_t n;
    const struct sim_eval *eval;
    void (*work)(uint32_t, struct sim_eval_state *, void *);
    void *arg;
    atomic_uint next;
};

static void *worker(void *arg)
{
    struct pool *pool = arg;
    struct sim_eval_state *s = pool->eval ? sim_eval_state_new(pool->eval) : NULL;
    for (;;) {
        unsigned item = atomic_fetch_add(&pool->next, 1);
        if (item >= pool->n)
            break;
        pool->work(item, s, pool->arg);
    }
    sim_eval_state_free(s);
    return NULL;
}

void pl_parallel(uint32_t n, unsigned threads, const struct sim_eval *eval,
                 void (*work)(uint32_t item, struct sim_eval_state *s, void *arg), void *arg)
{
    struct pool pool = {n, eval, work, arg, 0};
    if (threads < 1)
        threads = 1;
    if (threads > n)
        threads = n ? n : 1;
    pthread_t *tids = MX_NEW_ARRAY(pthread_t, threads);
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tids[t], NULL, worker, &pool) != 0)
            MX_BUG("cannot start a planner thread");
    worker(&pool);
    for (unsigned t = 1; t < threads; t++)
        pthread_join(tids[t], NULL);
    free(tids);
}
