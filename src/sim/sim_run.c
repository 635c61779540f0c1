/* Running a compiled world: choose the engine, and run the segments of a schedule on threads. Each
 * segment starts with empty queues and writes only its own requests and stages, so the results do
 * not depend on the thread count. */
#include "sim_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *const sim_status_names[SIM_N_STATUS] = {"good",    "late",       "rejected",
                                                    "dropped", "no_replica", "failed"};

struct sim_results *sim_results_new(const struct sim_world *w)
{
    struct sim_results *r = MX_NEW(struct sim_results);
    r->n = w->n;
    r->status = mx_malloc_array(w->n, sizeof(uint8_t));
    r->group = mx_malloc_array(w->n, sizeof(int32_t));
    r->start_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    r->finish_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    r->exec_ns = mx_malloc_array(w->n, sizeof(mx_ns));
    r->batch = mx_malloc_array(w->n, sizeof(uint16_t));
    r->n_stages = w->n_stages;
    r->busy_ns = MX_NEW_ARRAY(mx_ns, w->n_stages);
    return r;
}

void sim_results_free(struct sim_results *r)
{
    if (!r)
        return;
    free(r->status);
    free(r->group);
    free(r->start_ns);
    free(r->finish_ns);
    free(r->exec_ns);
    free(r->batch);
    free(r->busy_ns);
    free(r);
}

bool sim_fast_path_valid(const struct sim_world *w, const struct sim_options *o)
{
    return o->max_batch <= 1 && w->constant_overheads && !(o->variability && w->varies);
}

typedef void (*segment_runner)(const struct sim_world *, uint32_t, const struct sim_options *,
                               struct sim_results *);

struct run_job {
    const struct sim_world *w;
    const struct sim_options *o;
    struct sim_results *r;
    segment_runner run;
    atomic_uint next_segment;
};

static void *run_worker(void *arg)
{
    struct run_job *job = arg;
    for (;;) {
        unsigned s = atomic_fetch_add(&job->next_segment, 1);
        if (s >= job->w->n_segments)
            return NULL;
        job->run(job->w, s, job->o, job->r);
    }
}

int sim_run_into(const struct sim_world *w, const struct sim_options *options,
                 struct sim_results *r)
{
    struct sim_options o = *options;
    if (!o.dispatch)
        o.dispatch = sim_dispatch_default;
    bool fast_ok = sim_fast_path_valid(w, &o);
    if (o.engine == SIM_ENGINE_FAST && !fast_ok)
        return mx_error(MX_EUSAGE, "the fast engine covers neither batching, random overheads nor "
                                   "variable stage times; use --engine event");
    bool fast = o.engine == SIM_ENGINE_FAST || (o.engine == SIM_ENGINE_AUTO && fast_ok);
    r->engine = fast ? "fast" : o.variability && w->varies ? "event-variable" : "event";
    r->events = 0;
    memset(r->busy_ns, 0, r->n_stages * sizeof(mx_ns));
    struct run_job job = {w, &o, r, fast ? sim__fast_run_segment : sim__event_run_segment, 0};
    unsigned threads = o.threads < 1 ? 1 : o.threads;
    if (threads > w->n_segments)
        threads = w->n_segments;
    pthread_t *tids = MX_NEW_ARRAY(pthread_t, threads);
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tids[t], NULL, run_worker, &job) != 0)
            MX_BUG("cannot start a simulation thread");
    run_worker(&job);
    for (unsigned t = 1; t < threads; t++)
        pthread_join(tids[t], NULL);
    free(tids);
    return MX_OK;
}

int sim_run(const struct sim_world *w, const struct sim_options *o, struct sim_results **out)
{
    struct sim_results *r = sim_results_new(w);
    int rc = sim_run_into(w, o, r);
    if (rc < 0) {
        sim_results_free(r);
        return rc;
    }
    *out = r;
    return MX_OK;
}
