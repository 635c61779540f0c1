/* The runtime's shared state: the controller (rt_serve.c), the workers (rt_worker.c) and the
 * report (rt_report.c). Internal to src/runtime. */
#ifndef RT_INT_H
#define RT_INT_H

#include "rt_backend.h"
#include "rt_queue.h"
#include "rt_serve.h"
#include "rt_team.h"
#include "sim_control.h"

#include <pthread.h>

/* How long every worker runs its models before the first request. */
#define RT_WARM_UP_NS (300 * 1000 * 1000)
/* Calibration (rt_options.calibrate_only): how long each further phase runs (a unit alone, or
 * several units of a node at once), and how many rounds of them: interleaved, so that a machine
 * whose speed drifts over seconds drifts alike for every phase. */
#define RT_PHASE_NS (200 * 1000 * 1000)
#define RT_PHASE_ROUNDS 3
/* Quantiles of the calibration's stage-time distribution (rt_report.stage_time). */
#define RT_STAGE_TIME_QUANTILES 33
/* Runs timed per model and phase, for the calibration (rt_report.calibration): the last ones. */
#define RT_WARM_SAMPLES 64

/* Requests are uint32 indices in queues; a stop marker never is one. */
#define RT_STOP UINT32_MAX

/* One pipeline stage of a group: its op workers, the queue of requests waiting for it, and the
 * pool of buffers its outputs go to. */
struct rt_unit {
    uint32_t group, stage, global_stage; /* global_stage: the world's flat stage index */
    struct rt_queue waiting;             /* request indices */
    struct rt_queue free_acts;           /* indices into acts */
    void **acts;                         /* [n_acts] output buffers, on the stage's devices */
    uint32_t n_acts;
    struct rt_team team;
    /* The leader's current job, shared with the other ranks between two team syncs. */
    uint32_t job; /* a request, or RT_STOP */
    const void *job_in;
    void *job_out;
    mx_ns last_end_wall; /* when the stage last finished (wall ns) */
    atomic_bool failed;  /* a rank could not build its stages (any rank may set it) */
    bool warming;        /* the leader's word to its ranks during warm-up */
};

/* A phase of the warm-up: which units run their models (the others wait as idle devices do). */
struct rt_phase {
    mx_ns duration_ns;
    bool *active; /* [n_units] */
};

struct rt_worker {
    struct rt_run *run;
    struct rt_unit *unit;
    unsigned rank;
    uint32_t device, core;
    uint32_t n_specs;
    struct rt_stage_spec *specs; /* [world models]: what to build (arch NULL: not hosted) */
    struct rt_stage **stages;    /* [world models]: this device's stage of each model, or NULL */
    pthread_t thread;
    bool started;
    int rc; /* the build's result, with its message in error */
    char error[512];
    uint32_t *warm_runs; /* [phases][world models] runs timed in each phase (leaders only) */
    double *warm_s;      /* [phases][world models][RT_WARM_SAMPLES] the last runs' times (rings) */
};

struct rt_run {
    const struct sim_world *w;
    const struct rt_options *o;
    struct rt_report *report;
    size_t n;
    uint32_t max_stages;
    uint32_t n_units;
    struct rt_unit *units; /* [n_units] group by group, stage by stage */
    uint32_t *unit_base;   /* [groups]: the group's stage 0 in units */
    uint32_t n_workers;
    struct rt_worker *workers;
    uint32_t *unit_node; /* [n_units] the node of each unit's devices */
    uint32_t *unit_busy; /* [n_units] its devices (op) */
    uint32_t n_phases;   /* 1 (the warm-up), or with the calibration's phases */
    struct rt_phase *phases;
    uint32_t n_steps;     /* the phases run, in order: the warm-up, then rounds of the others */
    uint32_t *step_phase; /* [n_steps] */
    struct rt_team all;   /* every worker: phases start together */
    mx_ns wall0;          /* wall time of trace time trace0 */
    mx_ns trace0;
    mx_ns last_end_wall; /* the run's latest stage finish, 0 before any (under the lock) */

    pthread_barrier_t ready; /* every worker built and warm, and the controller */
    pthread_mutex_t lock;    /* guards control, report counters, first_failure */
    struct sim_control *control;

    /* Per request. */
    mx_ns *input_wall;  /* [n] when the request may start its current stage: its ready time
                           at stage 0, then its finish on the stage before */
    mx_ns *due_wall;    /* [n] the same from its arrival: when it would start with no
                           controller at all (arrival + client + dispatch + exec) */
    mx_ns *stage_ns;    /* [n][max_stages] how long each stage took the request, from when
                           the stage could have started it (free, and the request there)
                           to its end: the hand-off included; -1: not run (the report's
                           array) */
    mx_ns *world_ns;    /* [n][max_stages] the world's latencies of its replica (the report's) */
    mx_ns *run_start;   /* [n][max_stages] when the stage began running it (trace ns; the
                           report's) */
    mx_ns *run_end;     /* [n][max_stages] when it ended (the report's) */
    uint32_t *act;      /* [n] which buffer of its last stage holds its activations */
    mx_ns *overhead_ns; /* [n] start - due on an idle stage 0, or -1 */
};

/* Wall time (monotonic ns) and the conversions between it and trace time. */
mx_ns rt__now(void);
static inline mx_ns rt__trace_time(const struct rt_run *r, mx_ns wall)
{
    return r->trace0 + (wall - r->wall0);
}
static inline mx_ns rt__wall_time(const struct rt_run *r, mx_ns trace)
{
    return r->wall0 + (trace - r->trace0);
}
/* Sleep until wall time t (the controller), or poll until then, yielding (workers: rt_team.h). */
void rt__sleep_until(mx_ns t);
void rt__wait_until(mx_ns t);

/* A worker's thread body. */
void *rt__worker_main(void *worker);

/* cpu: every device of plan's groups is a core this process may run on (o->cores, else core d);
 * MX_EINPUT naming plan_path and the group otherwise. */
int rt__check_cores(const struct spec_plan *plan, const char *plan_path,
                    const struct rt_options *o);

/* Request i failed to run: record it (under the lock) with message. */
void rt__fail(struct rt_run *r, size_t i, const char *message);

/* The report's calibration: the medians of every (stage, model) alone (else in the warm-up) over
 * the profiled times, averaged with the models' shares of the trace's requests as weights; with
 * the calibration's phases, the interference they show and the pooled distribution of alone
 * times over their calibrated latency. */
void rt__report_calibration(struct rt_run *r, const struct spec_plan *plan,
                            const struct spec_profile *db);

/* Fill the report's stage and overhead figures from the run's measurements. */
void rt__report_measurements(struct rt_run *r, const struct spec_plan *plan,
                             const struct spec_profile *db);

#endif
