/* The runtime's controller: checks, set-up, the open-loop release of requests, and tear-down
 * (rt_serve.h). The workers are rt_worker.c; the measured figures rt_report.c. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_ISSET, pthread_setaffinity_np */
#include "rt_int.h"

#include "cu_rt.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "prof_arch.h"
#include "sim_dispatch.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output buffers of each stage: how many requests may sit between two stages. */
#define RT_STAGE_BUFFERS 16
#define RT_DEFAULT_QUEUE 1024
/* The controller starts releasing this long after every worker is warm. */
#define RT_LEAD_NS (50 * 1000 * 1000)
/* The controller stops sleeping this long before a release and polls the clock instead. */
#define RT_SPIN_NS (100 * 1000)

/* ---- checks ---- */

/* The architectures of the plan's models, indexed like plan->models (NULL: not used). */
static int load_archs(const struct spec_plan *plan, const char *plan_path, const char *zoo_dir,
                      struct prof_arch **archs)
{
    const struct spec_plan_segment *seg = &plan->segments[0];
    for (uint32_t g = 0; g < seg->n_groups; g++)
        for (uint32_t j = 0; j < seg->groups[g].n_models; j++) {
            uint32_t pm = seg->groups[g].models[j];
            if (archs[pm])
                continue;
            if (prof_arch_find(zoo_dir, plan->models[pm].base, &archs[pm]) < 0) {
                char why[512];
                snprintf(why, sizeof(why), "%s", mx_error_message());
                return mx_error(MX_EINPUT, "%s: model \"%s\" cannot run: %s", plan_path,
                                plan->models[pm].name, why);
            }
        }
    return MX_OK;
}

/* cpu: a device is a core this process may run on (rt_int.h). */
int rt__check_cores(const struct spec_plan *plan, const char *plan_path, const struct rt_options *o)
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return mx_error(MX_EIO, "cannot read this process's CPU affinity");
    unsigned n_allowed = (unsigned)CPU_COUNT(&allowed);
    const struct spec_plan_segment *seg = &plan->segments[0];
    for (uint32_t g = 0; g < seg->n_groups; g++)
        for (uint32_t j = 0; j < seg->groups[g].n_devices; j++) {
            uint32_t d = seg->groups[g].devices[j];
            if (o->cores && d >= o->n_cores)
                return mx_error(MX_EINPUT,
                                "%s: group %d uses device %u, but the cluster names cores for "
                                "devices 0 to %u only",
                                plan_path, seg->groups[g].id, d, o->n_cores - 1);
            uint32_t core = o->cores ? o->cores[d] : d;
            if (core >= CPU_SETSIZE || !CPU_ISSET(core, &allowed))
                return mx_error(MX_EINPUT,
                                "%s: group %d uses device %u, which the cpu backend runs on core "
                                "%u, but this process may use %u cores: a device is one core",
                                plan_path, seg->groups[g].id, d, core, n_allowed);
        }
    return MX_OK;
}

/* cpu: the core the controller runs on (rt_options.controller_core): one no device of the plan
 * uses, else it shares theirs (said in the report: the CLI warns). */
static int choose_controller_core(const struct spec_plan *plan, const char *plan_path,
                                  const struct rt_options *o, struct rt_report *rep)
{
    rep->controller_core = -1;
    rep->controller_shared = false;
    if (o->backend != &rt_backend_cpu)
        return MX_OK;
    cpu_set_t allowed, devices;
    CPU_ZERO(&allowed);
    CPU_ZERO(&devices);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return mx_error(MX_EIO, "cannot read this process's CPU affinity");
    const struct spec_plan_segment *seg = &plan->segments[0];
    for (uint32_t g = 0; g < seg->n_groups; g++)
        for (uint32_t j = 0; j < seg->groups[g].n_devices; j++) {
            uint32_t d = seg->groups[g].devices[j], core = o->cores ? o->cores[d] : d;
            if (core < CPU_SETSIZE)
                CPU_SET(core, &devices);
        }
    const char *cluster = o->cluster_path ? o->cluster_path : "cluster";
    if (o->controller_core >= 0) {
        int c = o->controller_core;
        if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
            return mx_error(MX_EINPUT,
                            "%s: controller_core: this process may not run on core %d (it may "
                            "use %d cores)",
                            cluster, c, CPU_COUNT(&allowed));
        if (CPU_ISSET(c, &devices))
            return mx_error(MX_EINPUT,
                            "%s: controller_core: core %d runs a device of %s: the controller "
                            "needs a core no device uses",
                            cluster, c, plan_path);
        rep->controller_core = c;
        return MX_OK;
    }
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed) && !CPU_ISSET(c, &devices)) {
            rep->controller_core = c;
            return MX_OK;
        }
    rep->controller_shared = true;
    return MX_OK;
}

static int check_machine(const struct spec_plan *plan, const char *plan_path,
                         const struct rt_options *o)
{
    if (plan->n_segments != 1)
        return mx_error(MX_EINPUT,
                        "%s: the plan changes over time (%u placements): the runtime serves "
                        "static plans only",
                        plan_path, plan->n_segments);
    if (o->backend == &rt_backend_cpu)
        return rt__check_cores(plan, plan_path, o);
    if (cu_rt_device_count() == 0)
        return mx_error(MX_EINPUT, "%s: the cuda backend needs a GPU, and this process sees none",
                        plan_path);
    return MX_OK;
}

/* ---- set-up ---- */

/* Stage k's layers of a model with config (1, op, pp): the profile's ranges, else an even split. */
static void stage_layers(const struct spec_config *cfg, const struct prof_arch *a, int32_t pp,
                         int32_t k, int32_t *begin, int32_t *end)
{
    if (cfg && cfg->layer_ranges) {
        *begin = cfg->layer_ranges[2 * k];
        *end = cfg->layer_ranges[2 * k + 1];
    } else {
        *begin = (int32_t)(a->layers * k / pp);
        *end = (int32_t)(a->layers * (k + 1) / pp);
    }
}

/* The workers of plan group g (world group g), stage by stage and rank by rank. */
static void add_group_workers(struct rt_run *r, const struct spec_plan *plan,
                              struct prof_arch *const *archs, const struct spec_profile *db,
                              uint32_t g, uint32_t *next_worker)
{
    const struct spec_plan_group *pg = &plan->segments[0].groups[g];
    const uint32_t n_models = sim_world_model_count(r->w);
    int gpus = r->o->backend == &rt_backend_cuda ? cu_rt_device_count() : 0;
    for (int32_t k = 0; k < pg->pp; k++)
        for (int32_t rank = 0; rank < pg->op; rank++) {
            struct rt_worker *wk = &r->workers[(*next_worker)++];
            struct rt_unit *u = &r->units[r->unit_base[g] + (uint32_t)k];
            wk->run = r;
            wk->unit = u;
            wk->rank = (unsigned)rank;
            wk->device = pg->devices[k * pg->op + rank];
            wk->core = r->o->cores ? r->o->cores[wk->device] : wk->device;
            wk->n_specs = n_models;
            wk->specs = MX_NEW_ARRAY(struct rt_stage_spec, n_models);
            wk->stages = MX_NEW_ARRAY(struct rt_stage *, n_models);
            wk->warm_runs = MX_NEW_ARRAY(uint32_t, (size_t)r->n_phases * n_models);
            wk->warm_s = MX_NEW_ARRAY(double, (size_t)r->n_phases *n_models *RT_WARM_SAMPLES);
            for (uint32_t m = 0; m < n_models; m++) {
                int32_t pm = spec_plan_find_model(plan, sim_world_model_name(r->w, m));
                bool hosted = false;
                for (uint32_t j = 0; pm >= 0 && j < pg->n_models; j++)
                    hosted |= pg->models[j] == (uint32_t)pm;
                if (!hosted)
                    continue;
                const struct prof_arch *a = archs[pm];
                struct rt_stage_spec *s = &wk->specs[m];
                const struct spec_config *cfg =
                    spec_profile_find(db, plan->models[pm].base, 1, pg->op, pg->pp);
                stage_layers(cfg, a, pg->pp, k, &s->layer_begin, &s->layer_end);
                s->arch = a;
                s->first = k == 0;
                s->last = k == pg->pp - 1;
                s->op = (unsigned)pg->op;
                s->rank = (unsigned)rank;
                s->team = pg->op > 1 ? &u->team : NULL;
                s->device = wk->device;
                s->gpu = gpus > 0 ? (int)(wk->device % (uint32_t)gpus) : -1;
                s->seed = mx_rng_derive(r->o->seed, plan->models[pm].name, 0);
            }
        }
}

/* The warm-up's phases: every unit at once; for a calibration then each unit alone, and the first
 * 2, 3, ... units of every node at once, in RT_PHASE_ROUNDS rounds. */
static void phases_init(struct rt_run *r)
{
    uint32_t most = 0; /* units on the fullest node */
    uint32_t *rank = MX_NEW_ARRAY(uint32_t, r->n_units ? r->n_units : 1); /* on its node */
    for (uint32_t u = 0; u < r->n_units; u++) {
        for (uint32_t v = 0; v < u; v++)
            rank[u] += r->unit_node[v] == r->unit_node[u];
        most = rank[u] + 1 > most ? rank[u] + 1 : most;
    }
    r->n_phases = 1 + (r->o->calibrate_only ? r->n_units + (most > 1 ? most - 1 : 0) : 0);
    r->phases = MX_NEW_ARRAY(struct rt_phase, r->n_phases);
    for (uint32_t p = 0; p < r->n_phases; p++) {
        r->phases[p].duration_ns = p == 0 ? RT_WARM_UP_NS : RT_PHASE_NS;
        r->phases[p].active = MX_NEW_ARRAY(bool, r->n_units ? r->n_units : 1);
        for (uint32_t u = 0; u < r->n_units; u++) {
            if (p == 0)
                r->phases[p].active[u] = true;
            else if (p <= r->n_units)
                r->phases[p].active[u] = u == p - 1;
            else
                r->phases[p].active[u] = rank[u] < p - r->n_units + 1;
        }
    }
    free(rank);
    r->n_steps = 1 + (r->n_phases - 1) * RT_PHASE_ROUNDS;
    r->step_phase = MX_NEW_ARRAY(uint32_t, r->n_steps);
    for (uint32_t k = 1; k < r->n_steps; k++)
        r->step_phase[k] = 1 + (k - 1) % (r->n_phases - 1);
}

static void units_init(struct rt_run *r, const struct spec_plan *plan)
{
    const uint32_t n_groups = sim_world_group_count(r->w);
    uint32_t capacity = r->o->queue_capacity ? r->o->queue_capacity : RT_DEFAULT_QUEUE;
    r->unit_base = MX_NEW_ARRAY(uint32_t, n_groups + 1);
    for (uint32_t g = 0; g < n_groups; g++) {
        r->unit_base[g + 1] = r->unit_base[g] + sim_world_group_stages(r->w, g);
        const struct spec_plan_group *pg = &plan->segments[0].groups[g];
        r->n_workers += (uint32_t)(pg->op * pg->pp);
    }
    r->n_units = r->unit_base[n_groups];
    r->units = MX_NEW_ARRAY(struct rt_unit, r->n_units);
    for (uint32_t g = 0; g < n_groups; g++)
        for (uint32_t k = 0; k < sim_world_group_stages(r->w, g); k++) {
            struct rt_unit *u = &r->units[r->unit_base[g] + k];
            u->group = g;
            u->stage = k;
            u->global_stage = r->unit_base[g] + k;
            rt_queue_init(&u->waiting, k == 0 ? capacity : RT_STAGE_BUFFERS);
            rt_queue_init(&u->free_acts, RT_STAGE_BUFFERS);
            u->n_acts = RT_STAGE_BUFFERS;
            u->acts = MX_NEW_ARRAY(void *, RT_STAGE_BUFFERS);
            rt_team_init(&u->team, (unsigned)plan->segments[0].groups[g].op);
        }
    r->unit_node = MX_NEW_ARRAY(uint32_t, r->n_units ? r->n_units : 1);
    r->unit_busy = MX_NEW_ARRAY(uint32_t, r->n_units ? r->n_units : 1);
    for (uint32_t g = 0; g < n_groups; g++) {
        const struct spec_plan_group *pg = &plan->segments[0].groups[g];
        for (int32_t k = 0; k < pg->pp; k++) {
            uint32_t device = pg->devices[k * pg->op];
            r->unit_node[r->unit_base[g] + (uint32_t)k] =
                r->o->devices_per_node ? device / r->o->devices_per_node : 0;
            r->unit_busy[r->unit_base[g] + (uint32_t)k] = (uint32_t)pg->op;
        }
    }
    phases_init(r);
}

static void run_release(struct rt_run *r)
{
    const struct rt_backend *be = r->o->backend;
    for (uint32_t i = 0; r->workers && i < r->n_workers; i++) {
        struct rt_worker *wk = &r->workers[i];
        for (uint32_t m = 0; wk->stages && m < wk->n_specs; m++)
            if (wk->stages[m])
                be->stage_free(wk->stages[m]);
        free(wk->stages);
        free(wk->specs);
        free(wk->warm_runs);
        free(wk->warm_s);
    }
    for (uint32_t u = 0; r->units && u < r->n_units; u++) {
        for (uint32_t a = 0; a < r->units[u].n_acts; a++)
            if (r->units[u].acts[a])
                be->act_free(r->units[u].acts[a]);
        free(r->units[u].acts);
        rt_queue_release(&r->units[u].waiting);
        rt_queue_release(&r->units[u].free_acts);
        rt_team_release(&r->units[u].team);
    }
    free(r->workers);
    free(r->units);
    free(r->unit_base);
    free(r->unit_node);
    free(r->unit_busy);
    for (uint32_t p = 0; r->phases && p < r->n_phases; p++)
        free(r->phases[p].active);
    free(r->phases);
    free(r->step_phase);
    rt_team_release(&r->all);
    free(r->input_wall);
    free(r->due_wall);
    free(r->act);
    free(r->overhead_ns);
    sim_control_free(r->control);
    pthread_mutex_destroy(&r->lock);
}

/* ---- the run ---- */

void rt__fail(struct rt_run *r, size_t i, const char *message)
{
    struct sim_results *res = r->report->results;
    pthread_mutex_lock(&r->lock);
    res->status[i] = SIM_FAILED;
    res->finish_ns[i] = rt__trace_time(r, rt__now());
    r->report->failed++;
    if (!r->report->first_failure)
        r->report->first_failure = mx_strdup(message);
    pthread_mutex_unlock(&r->lock);
}

/* Decide request i now and, if admitted, queue it at its group. */
static void release(struct rt_run *r, size_t i)
{
    struct sim_results *res = r->report->results;
    struct sim_decision d;
    pthread_mutex_lock(&r->lock);
    mx_ns decided = rt__trace_time(r, rt__now());
    sim_control_decide(r->control, i, decided, &d);
    r->report->decided_ns[i] = decided;
    res->group[i] = d.group;
    if (d.admitted) {
        memcpy(r->world_ns + i * r->max_stages, d.latency_ns, d.n_stages * sizeof(mx_ns));
        r->input_wall[i] = rt__wall_time(r, d.ready_ns);
        r->due_wall[i] = rt__wall_time(r, sim_control_ready_due(r->control, i));
    } else {
        res->status[i] = d.no_replica ? SIM_NO_REPLICA : SIM_REJECTED;
        res->finish_ns[i] = d.refused_ns;
    }
    pthread_mutex_unlock(&r->lock);
    if (d.admitted && !rt_queue_push(&r->units[r->unit_base[d.group]].waiting, (uint32_t)i)) {
        pthread_mutex_lock(&r->lock);
        sim_control_request_done(r->control, (uint32_t)d.group, i, false);
        pthread_mutex_unlock(&r->lock);
        rt__fail(r, i, "the group's queue was full");
    }
}

/* Wait until wall time due, or a stop: sleep in slices of at most 100 ms until RT_SPIN_NS before
 * it (a sleeping thread wakes tens of microseconds late), then poll. */
static void wait_for(const struct rt_run *r, mx_ns due)
{
    mx_ns now;
    while ((now = rt__now()) < due - RT_SPIN_NS && !(r->o->stop && *r->o->stop)) {
        mx_ns slice = due - RT_SPIN_NS - now;
        rt__sleep_until(now + (slice < MX_NS_PER_S / 10 ? slice : MX_NS_PER_S / 10));
    }
    if (!(r->o->stop && *r->o->stop))
        rt__wait_until(due);
}

/* Release every request at its time, until the end or a stop. */
static void control_loop(struct rt_run *r)
{
    cpu_set_t previous_cores;
    bool pinned = false;
    if (r->report->controller_core >= 0 &&
        pthread_getaffinity_np(pthread_self(), sizeof(previous_cores), &previous_cores) == 0) {
        cpu_set_t core;
        CPU_ZERO(&core);
        CPU_SET(r->report->controller_core, &core);
        pinned = pthread_setaffinity_np(pthread_self(), sizeof(core), &core) == 0;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* wake on time, not up to 50 us late */
    struct sched_param previous_param, realtime = {.sched_priority = 1};
    int previous_policy;
    pthread_getschedparam(pthread_self(), &previous_policy, &previous_param);
    r->report->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &realtime) == 0;
    for (size_t i = 0; i < r->n; i++) {
        wait_for(r, rt__wall_time(r, sim_control_decision_due(r->control, i)));
        if (r->o->stop && *r->o->stop) {
            r->report->interrupted = true;
            break;
        }
        release(r, i);
        r->report->released = i + 1;
        mx_progress_report(&r->o->progress, (double)(i + 1) / (double)r->n);
    }
    pthread_setschedparam(pthread_self(), previous_policy, &previous_param);
    if (pinned)
        pthread_setaffinity_np(pthread_self(), sizeof(previous_cores), &previous_cores);
}

static void results_init(struct rt_run *r)
{
    struct sim_results *res = sim_results_new(r->w);
    res->engine = r->o->backend == &rt_backend_cpu ? "runtime-cpu" : "runtime-cuda";
    for (size_t i = 0; i < r->n; i++) {
        res->status[i] = SIM_FAILED; /* until it ends: what is never released stays so */
        res->group[i] = -1;
        res->start_ns[i] = MX_NS_NEVER;
        res->finish_ns[i] = 0;
        res->exec_ns[i] = 0;
        res->batch[i] = 0;
    }
    memset(res->busy_ns, 0, res->n_stages * sizeof(mx_ns));
    r->report->results = res;
}

/* The run's state for r->w, r->o and r->report (set by the caller). */
static int run_init(struct rt_run *r, const struct spec_plan *plan)
{
    const struct sim_world *w = r->w;
    const struct rt_options *o = r->o;
    r->n = sim_world_requests(w);
    int rc = sim_control_new(w, o->dispatch ? o->dispatch : sim_dispatch_default, &r->control);
    if (rc < 0)
        return rc;
    for (uint32_t g = 0; g < sim_world_group_count(w); g++)
        if (sim_world_group_stages(w, g) > r->max_stages)
            r->max_stages = sim_world_group_stages(w, g);
    size_t cells = r->n * (r->max_stages ? r->max_stages : 1);
    r->input_wall = MX_NEW_ARRAY(mx_ns, r->n);
    r->due_wall = MX_NEW_ARRAY(mx_ns, r->n);
    r->report->max_stages = r->max_stages;
    r->report->stage_ns = r->stage_ns = mx_malloc_array(cells, sizeof(mx_ns));
    r->report->decided_ns = mx_malloc_array(r->n, sizeof(mx_ns));
    for (size_t c = 0; c < cells; c++)
        r->stage_ns[c] = -1;
    for (size_t i = 0; i < r->n; i++)
        r->report->decided_ns[i] = MX_NS_NEVER;
    r->report->world_ns = r->world_ns = MX_NEW_ARRAY(mx_ns, cells);
    r->report->run_start_ns = r->run_start = mx_malloc_array(cells, sizeof(mx_ns));
    r->report->run_end_ns = r->run_end = mx_malloc_array(cells, sizeof(mx_ns));
    for (size_t c = 0; c < cells; c++)
        r->run_start[c] = r->run_end[c] = -1;
    r->act = MX_NEW_ARRAY(uint32_t, r->n);
    r->overhead_ns = mx_malloc_array(r->n, sizeof(mx_ns));
    for (size_t i = 0; i < r->n; i++)
        r->overhead_ns[i] = -1;
    units_init(r, plan);
    rt_team_init(&r->all, r->n_workers);
    r->workers = MX_NEW_ARRAY(struct rt_worker, r->n_workers);
    results_init(r);
    return MX_OK;
}

/* Start every worker and wait until all are built and warm. A failed build is the first
 * worker's message. */
static int start_workers(struct rt_run *r)
{
    int rc = MX_OK;
    pthread_barrier_init(&r->ready, NULL, r->n_workers + 1);
    for (uint32_t i = 0; i < r->n_workers; i++) {
        int err = pthread_create(&r->workers[i].thread, NULL, rt__worker_main, &r->workers[i]);
        if (err != 0) {
            /* The barrier counts on every worker: a missing one would hang it for good. */
            fprintf(stderr, "muxplan: cannot start a worker thread: %s\n", strerror(err));
            abort();
        }
        r->workers[i].started = true;
    }
    pthread_barrier_wait(&r->ready);
    for (uint32_t i = 0; i < r->n_workers && rc == MX_OK; i++)
        if (r->workers[i].rc < 0)
            rc = mx_error(r->workers[i].rc, "%s", r->workers[i].error);
    return rc;
}

static void stop_workers(struct rt_run *r)
{
    for (uint32_t u = 0; u < r->n_units; u++)
        if (r->units[u].stage == 0)
            rt_queue_close(&r->units[u].waiting);
    for (uint32_t i = 0; i < r->n_workers; i++)
        if (r->workers[i].started)
            pthread_join(r->workers[i].thread, NULL);
    pthread_barrier_destroy(&r->ready);
}

int rt_serve(const struct sim_world *w, const struct spec_plan *plan, const char *plan_path,
             const struct spec_profile *db, const struct rt_options *o, struct rt_report *out)
{
    struct rt_run run = {.w = w, .o = o, .report = out};
    struct prof_arch **archs = MX_NEW_ARRAY(struct prof_arch *, plan->n_models);
    *out = (struct rt_report){.backend = o->backend->name};
    pthread_mutex_init(&run.lock, NULL);
    int rc = check_machine(plan, plan_path, o);
    if (rc == MX_OK)
        rc = choose_controller_core(plan, plan_path, o, out);
    if (rc == MX_OK)
        rc = load_archs(plan, plan_path, o->zoo_dir, archs);
    if (rc == MX_OK)
        rc = run_init(&run, plan);
    if (rc == MX_OK) {
        uint32_t next = 0;
        for (uint32_t g = 0; g < sim_world_group_count(w); g++)
            add_group_workers(&run, plan, archs, db, g, &next);
        rc = start_workers(&run);
        if (rc == MX_OK) {
            const struct wl_trace *t = sim_world_trace(w);
            run.trace0 = mx_s_to_ns(t->arrival_s[0]);
            run.wall0 = rt__now() + RT_LEAD_NS;
            rt__report_calibration(&run, plan, db);
            if (!o->calibrate_only)
                control_loop(&run);
        }
        mx_ns released_wall = rt__now();
        stop_workers(&run);
        /* From the first arrival to the last completion (or the last release, if later). */
        mx_ns end = run.last_end_wall > released_wall ? run.last_end_wall : released_wall;
        out->wall_s = o->calibrate_only ? 0 : mx_ns_to_s(end - run.wall0);
        if (rc == MX_OK)
            rt__report_measurements(&run, plan, db);
    }
    run_release(&run);
    for (uint32_t m = 0; m < plan->n_models; m++)
        prof_arch_free(archs[m]);
    free(archs);
    if (rc < 0)
        rt_report_release(out);
    return rc;
}
