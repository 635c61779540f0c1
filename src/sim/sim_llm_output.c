/* Writing decoder results into a results file (sim_llm_output.h). */
#include "sim_llm_output.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "sim_llm_int.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>

/* Per-request columns, built from the results and the compiled requests. */
struct columns {
    int64_t *request;
    int32_t *model, *input, *output, *generated, *preemptions;
    uint8_t *good;
    double *arrival, *first, *finish, *ttft, *tpot;
};

static double time_s(mx_ns ns)
{
    return ns == MX_NS_NEVER ? NAN : mx_ns_to_s(ns);
}

static void build(const struct sim_llm *w, const struct sim_llm_results *r, struct columns *c)
{
    size_t n = w->n ? w->n : 1;
    c->request = MX_NEW_ARRAY(int64_t, n);
    c->model = MX_NEW_ARRAY(int32_t, n);
    c->input = MX_NEW_ARRAY(int32_t, n);
    c->output = MX_NEW_ARRAY(int32_t, n);
    c->generated = MX_NEW_ARRAY(int32_t, n);
    c->preemptions = MX_NEW_ARRAY(int32_t, n);
    c->good = MX_NEW_ARRAY(uint8_t, n);
    c->arrival = MX_NEW_ARRAY(double, n);
    c->first = MX_NEW_ARRAY(double, n);
    c->finish = MX_NEW_ARRAY(double, n);
    c->ttft = MX_NEW_ARRAY(double, n);
    c->tpot = MX_NEW_ARRAY(double, n);
    for (size_t i = 0; i < w->n; i++) {
        bool completed = r->status[i] == SIM_GOOD || r->status[i] == SIM_LATE;
        c->request[i] = (int64_t)w->trace_index[i];
        c->model[i] = (int32_t)sim_llm_request_model(w, i);
        c->input[i] = (int32_t)w->input[i];
        c->output[i] = (int32_t)w->output[i];
        c->generated[i] = (int32_t)r->generated[i];
        c->preemptions[i] = (int32_t)r->preemptions[i];
        c->good[i] = r->status[i] == SIM_GOOD;
        c->arrival[i] = mx_ns_to_s(w->arrival_ns[i]);
        c->first[i] = time_s(r->first_token_ns[i]);
        c->finish[i] = time_s(r->finish_ns[i]);
        c->ttft[i] = completed ? c->first[i] - c->arrival[i] : NAN;
        c->tpot[i] = !completed          ? NAN
                     : w->output[i] == 1 ? 0
                                         : (c->finish[i] - c->first[i]) / (w->output[i] - 1);
    }
}

static void release(struct columns *c)
{
    free(c->request);
    free(c->model);
    free(c->input);
    free(c->output);
    free(c->generated);
    free(c->preemptions);
    free(c->good);
    free(c->arrival);
    free(c->first);
    free(c->finish);
    free(c->ttft);
    free(c->tpot);
}

static int write_groups(struct mx_h5 *h, const struct sim_llm *w)
{
    size_t dims[2] = {w->n_groups, 0};
    int32_t *id = MX_NEW_ARRAY(int32_t, w->n_groups ? w->n_groups : 1);
    int32_t *index = MX_NEW_ARRAY(int32_t, w->n_groups ? w->n_groups : 1);
    for (uint32_t g = 0; g < w->n_groups; g++) {
        id[g] = w->groups[g].id;
        index[g] = (int32_t)w->groups[g].plan_index;
    }
    int rc;
    if ((rc = mx_h5_group(h, "/decoder/groups")) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/groups/id", MX_H5_I32, 1, dims, id)) == MX_OK)
        rc = mx_h5_write(h, "/decoder/groups/plan_index", MX_H5_I32, 1, dims, index);
    free(id);
    free(index);
    return rc;
}

int sim_llm_results_write(struct mx_h5 *h, const struct sim_llm *w, const struct sim_llm_results *r,
                          const struct sim_llm_summary *s)
{
    const struct wl_trace *t = w->trace;
    size_t dims[2] = {w->n, 0};
    struct columns c;
    build(w, r, &c);
    json_t *summary = sim_llm_summary_json(w, s);
    char *text = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(17));
    int rc;
    if ((rc = mx_h5_group(h, "/decoder")) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/request", MX_H5_I64, 1, dims, c.request)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/model", MX_H5_I32, 1, dims, c.model)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/group", MX_H5_I32, 1, dims, r->group)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/status", MX_H5_U8, 1, dims, r->status)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/good", MX_H5_U8, 1, dims, c.good)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/arrival_s", MX_H5_F64, 1, dims, c.arrival)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/first_token_s", MX_H5_F64, 1, dims, c.first)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/finish_s", MX_H5_F64, 1, dims, c.finish)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/ttft_s", MX_H5_F64, 1, dims, c.ttft)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/tpot_s", MX_H5_F64, 1, dims, c.tpot)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/input_tokens", MX_H5_I32, 1, dims, c.input)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/output_tokens", MX_H5_I32, 1, dims, c.output)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/generated", MX_H5_I32, 1, dims, c.generated)) == MX_OK &&
        (rc = mx_h5_write(h, "/decoder/preemptions", MX_H5_I32, 1, dims, c.preemptions)) == MX_OK &&
        (rc = mx_h5_write_strings(h, "/decoder/model_names", t->n_models,
                                  (const char *const *)t->model_names)) == MX_OK &&
        (rc = write_groups(h, w)) == MX_OK &&
        (rc = mx_h5_attr_write_f64(h, "/decoder", "attainment", s->attainment)) == MX_OK &&
        (rc = mx_h5_attr_write_i64(h, "/decoder", "requests", (int64_t)s->requests)) == MX_OK)
        rc = mx_h5_attr_write_str(h, "/decoder", "summary", text);
    free(text);
    json_decref(summary);
    release(&c);
    return rc;
}
