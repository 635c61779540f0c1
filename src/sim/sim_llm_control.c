/* The decoder scheduler driven by a real executor (sim_llm_control.h): the engine's own event
 * handlers on a controlled run, whose stage and iteration ends are told instead of predicted. */
#include "sim_llm_control.h"

#include "mx_alloc.h"
#include "sim_llm_int.h"

#include <stdlib.h>

struct sim_llm_control {
    struct llm_run run;
    struct sim_llm_results *r;
    uint32_t *cached; /* [entries of the largest iteration] */
    bool *decode, *emits;
};

struct sim_llm_control *sim_llm_control_new(const struct sim_llm *w)
{
    struct sim_llm_control *c = MX_NEW(struct sim_llm_control);
    c->r = sim_llm__results_new(w);
    sim_llm__run_init(&c->run, w, c->r);
    c->run.controlled = true;
    c->run.measure_from_ns = INT64_MIN;
    c->run.measure_to_ns = INT64_MAX;
    uint32_t most = 1;
    for (uint32_t g = 0; g < w->n_groups; g++)
        if (w->groups[g].max_batch_tokens > most)
            most = w->groups[g].max_batch_tokens;
    c->cached = MX_NEW_ARRAY(uint32_t, most);
    c->decode = MX_NEW_ARRAY(bool, most);
    c->emits = MX_NEW_ARRAY(bool, most);
    return c;
}

void sim_llm_control_free(struct sim_llm_control *c)
{
    if (!c)
        return;
    sim_llm__run_release(&c->run);
    sim_llm_results_free(c->r);
    free(c->cached);
    free(c->decode);
    free(c->emits);
    free(c);
}

int32_t sim_llm_control_dispatch(struct sim_llm_control *c, uint32_t i, mx_ns now)
{
    c->run.now = now;
    sim_llm__dispatch_request(&c->run, i);
    return c->run.at_group[i];
}

bool sim_llm_control_admit(struct sim_llm_control *c, uint32_t i, mx_ns now)
{
    c->run.now = now;
    sim_llm__admit_request(&c->run, i);
    return c->r->status[i] == SIM_N_STATUS;
}

void sim_llm_control_stage0_free(struct sim_llm_control *c, uint32_t g, mx_ns now)
{
    c->run.gs[g].stage0_free_ns = now;
}

bool sim_llm_control_form(struct sim_llm_control *c, uint32_t g, mx_ns now,
                          struct sim_llm_iteration *it)
{
    struct llm_run *run = &c->run;
    struct llm_group_state *st = &run->gs[g];
    run->now = now;
    run->n_preempted_now = 0;
    if (!sim_llm__form(run, g))
        return false;
    const struct llm_flight *f =
        &st->flights[(st->first_flight + st->n_flights - 1) % run->w->groups[g].pp];
    for (uint32_t k = 0; k < f->n; k++) {
        uint32_t i = f->req[k];
        c->cached[k] = run->computed[i] - f->tokens[k];
        c->decode[k] = c->cached[k] >= run->prefill_len[i];
        c->emits[k] = run->computed[i] >= run->prefill_len[i];
    }
    *it = (struct sim_llm_iteration){f->slot,           f->n,      f->req,   f->tokens,
                                     c->cached,         c->decode, c->emits, run->n_preempted_now,
                                     run->preempted_now};
    return true;
}

void sim_llm_control_end(struct sim_llm_control *c, uint32_t g, mx_ns now)
{
    c->run.now = now;
    sim_llm__end_iteration(&c->run, g);
}

uint32_t sim_llm_control_generated(const struct sim_llm_control *c, uint32_t i)
{
    return c->r->generated[i];
}

bool sim_llm_control_done(const struct sim_llm_control *c, uint32_t i)
{
    return c->r->status[i] != SIM_N_STATUS;
}

void sim_llm_control_finish(struct sim_llm_control *c, mx_ns now)
{
    c->run.now = now;
    sim_llm__finish_records(&c->run);
}

const struct sim_llm_results *sim_llm_control_results(const struct sim_llm_control *c)
{
    return c->r;
}
