/* Independent planner work items on threads. pl_parallel: whole items, claimed from a shared
 * counter, each thread with its own evaluation state. pl_parallel_steps: resumable items, stepped
 * one step at a time by whichever thread is free, each item with its own evaluation state. Every
 * item writes only its own result, so results depend neither on the thread count nor on the
 * schedule. */
#include "plan_int.h"

#include "mx_alloc.h"
#include "mx_time.h"

#include <math.h>
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

/* The threads n items can use: min(threads, n), at least one. */
static unsigned thread_count(unsigned threads, uint32_t n)
{
    if (threads > n)
        threads = n;
    return threads ? threads : 1;
}

/* Run fn(arg) on `threads` threads, this one among them. */
static void run_on_threads(unsigned threads, void *(*fn)(void *), void *arg)
{
    pthread_t *tids = MX_NEW_ARRAY(pthread_t, threads);
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tids[t], NULL, fn, arg) != 0)
            MX_BUG("cannot start a planner thread");
    fn(arg);
    for (unsigned t = 1; t < threads; t++)
        pthread_join(tids[t], NULL);
    free(tids);
}

void pl_parallel(uint32_t n, unsigned threads, const struct sim_eval *eval,
                 void (*work)(uint32_t item, struct sim_eval_state *s, void *arg), void *arg)
{
    struct pool pool = {n, eval, work, arg, 0};
    run_on_threads(thread_count(threads, n), worker, &pool);
}

/* How long a thread steps one item before it looks for the item with the most time left again:
 * long enough that items rarely move between threads (and caches), short against a search. */
#define QUANTUM_S 0.025

/* Resumable items (pl_parallel_steps): each item's evaluation state and what the schedule knows. */
struct stepped {
    struct sim_eval_state *state; /* from the pool at its first step, back after its last */
    bool running, done;
    uint32_t steps;
    double share;    /* of its work done, as of its last step (written by the thread stepping it) */
    double recent_s; /* its recent steps' time, smoothed (from its second step: the first is a full
                        run) */
};

struct step_pool {
    uint32_t n;
    unsigned threads;
    const struct sim_eval *eval;
    bool (*step)(uint32_t, struct sim_eval_state *, void *);
    double (*progress)(uint32_t, void *);
    void *arg;
    const struct mx_progress_sink *sink;
    struct stepped *items;
    struct sim_eval_state **free_states; /* [n] states no item holds */
    uint32_t n_free, left;               /* items not done */
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

/* Time a started item needs still, by estimate: its steps to come, from its steps so far and the
 * share of its work they did (progress), at its recent step time. A fill's steps cost more as it
 * goes on, so this underestimates; it only orders the items. */
static double time_left(const struct step_pool *pool, uint32_t item)
{
    const struct stepped *it = &pool->items[item];
    const double done = pool->progress(item, pool->arg);
    if (done <= 0)
        return HUGE_VAL;
    return it->recent_s * it->steps * (1 - done) / done;
}

/* The item to step next: not running nor done; those with fewer than two steps first (no estimate
 * yet), in order; then the most time left, the lower index at a tie. UINT32_MAX: none. Caller holds
 * the lock. */
static uint32_t pick(const struct step_pool *pool)
{
    uint32_t best = UINT32_MAX;
    double best_left = 0;
    for (uint32_t i = 0; i < pool->n; i++) {
        const struct stepped *it = &pool->items[i];
        if (it->running || it->done)
            continue;
        const double left = it->steps < 2 ? HUGE_VAL : time_left(pool, i);
        if (best == UINT32_MAX || left > best_left) {
            best = i;
            best_left = left;
        }
    }
    return best;
}

static void *step_worker(void *arg)
{
    struct step_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        uint32_t item = pick(pool);
        if (item == UINT32_MAX) {
            if (pool->left == 0)
                break;
            pthread_cond_wait(&pool->changed, &pool->lock);
            continue;
        }
        struct stepped *it = &pool->items[item];
        it->running = true;
        if (!it->state && pool->eval)
            it->state =
                pool->n_free ? pool->free_states[--pool->n_free] : sim_eval_state_new(pool->eval);
        pthread_mutex_unlock(&pool->lock);
        /* Its steps for one quantum, or to its end on one thread, which has nothing to balance
         * (its own fields: pick() passes over a running item). */
        const double picked = mx_wall_s();
        bool more;
        double now = picked;
        do {
            const double start = now;
            more = pool->step(item, it->state, pool->arg);
            now = mx_wall_s();
            it->recent_s = it->steps < 2 ? now - start : 0.9 * it->recent_s + 0.1 * (now - start);
            it->steps++;
        } while (more && (pool->threads == 1 || now - picked < QUANTUM_S));
        it->share = more ? pool->progress(item, pool->arg) : 1;
        pthread_mutex_lock(&pool->lock);
        it->running = false;
        /* Under the lock: one report at a time, over every item's last share. */
        if (pool->sink) {
            double sum = 0;
            for (uint32_t i = 0; i < pool->n; i++)
                sum += pool->items[i].share;
            mx_progress_report(pool->sink, sum / pool->n);
        }
        if (!more) {
            it->done = true;
            pool->left--;
            if (it->state)
                pool->free_states[pool->n_free++] = it->state;
            it->state = NULL;
        }
        /* Another thread may take this item now, or has nothing left to wait for. */
        pthread_cond_broadcast(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

void pl_parallel_steps(uint32_t n, unsigned threads, const struct sim_eval *eval,
                       bool (*step)(uint32_t item, struct sim_eval_state *s, void *arg),
                       double (*progress)(uint32_t item, void *arg), void *arg,
                       const struct mx_progress_sink *sink)
{
    struct step_pool pool = {n,
                             thread_count(threads, n),
                             eval,
                             step,
                             progress,
                             arg,
                             sink,
                             MX_NEW_ARRAY(struct stepped, n ? n : 1),
                             MX_NEW_ARRAY(struct sim_eval_state *, n ? n : 1),
                             0,
                             n,
                             PTHREAD_MUTEX_INITIALIZER,
                             PTHREAD_COND_INITIALIZER};
    run_on_threads(pool.threads, step_worker, &pool);
    for (uint32_t k = 0; k < pool.n_free; k++)
        sim_eval_state_free(pool.free_states[k]);
    free(pool.free_states);
    free(pool.items);
    pthread_mutex_destroy(&pool.lock);
    pthread_cond_destroy(&pool.changed);
}
