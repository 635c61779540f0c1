/* The CSV form of a trace: header arrival_s,model,slo_s (any order, extra columns ignored), one
 * request per row, model given by name. Model indices follow the order of first appearance. */
#include "wl_trace.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_strmap.h"

#include <stdlib.h>
#include <string.h>

struct growing_trace {
    struct wl_trace *t;
    size_t cap;
    uint32_t names_cap;
    struct mx_strmap names;
};

static void reserve_row(struct growing_trace *g)
{
    struct wl_trace *t = g->t;
    if (t->n < g->cap)
        return;
    g->cap = g->cap ? 2 * g->cap : 1024;
    t->arrival_s = mx_realloc_array(t->arrival_s, g->cap, sizeof(double));
    t->model = mx_realloc_array(t->model, g->cap, sizeof(int32_t));
    t->slo_s = mx_realloc_array(t->slo_s, g->cap, sizeof(double));
}

static int32_t model_index(struct growing_trace *g, const char *name)
{
    struct wl_trace *t = g->t;
    uint32_t index;
    if (mx_strmap_get(&g->names, name, &index))
        return (int32_t)index;
    if (t->n_models == g->names_cap) {
        g->names_cap = g->names_cap ? 2 * g->names_cap : 16;
        t->model_names = mx_realloc_array(t->model_names, g->names_cap, sizeof(char *));
    }
    t->model_names[t->n_models] = mx_strdup(name);
    /* The map borrows the stored copy, which lives as long as the trace. */
    mx_strmap_put(&g->names, t->model_names[t->n_models], t->n_models);
    return (int32_t)t->n_models++;
}

static int parse_row(struct mx_csv *csv, struct growing_trace *g, const int col[3])
{
    static const char *const names[3] = {"arrival_s", "model", "slo_s"};
    struct wl_trace *t = g->t;
    for (int c = 0; c < 3; c++)
        if ((size_t)col[c] >= csv->n_fields)
            return mx_error(MX_EINPUT, "%s:%zu: %s: missing (the row has %zu fields)", csv->path,
                            csv->line, names[c], csv->n_fields);
    reserve_row(g);
    size_t i = t->n;
    const char *model = csv->fields[col[1]];
    if (!mx_parse_f64(csv->fields[col[0]], &t->arrival_s[i]))
        return mx_error(MX_EINPUT, "%s:%zu: arrival_s: \"%s\" is not a number", csv->path,
                        csv->line, csv->fields[col[0]]);
    if (!mx_parse_f64(csv->fields[col[2]], &t->slo_s[i]))
        return mx_error(MX_EINPUT, "%s:%zu: slo_s: \"%s\" is not a number", csv->path, csv->line,
                        csv->fields[col[2]]);
    if (!model[0])
        return mx_error(MX_EINPUT, "%s:%zu: model: empty name", csv->path, csv->line);
    t->model[i] = model_index(g, model);
    const char *field, *problem = wl_trace_request_problem(t, i, &field);
    if (problem)
        return mx_error(MX_EINPUT, "%s:%zu: %s: %s", csv->path, csv->line, field, problem);
    t->n++;
    return MX_OK;
}

int wl_trace_read_csv(const char *path, struct wl_trace **out)
{
    static const char *const names[3] = {"arrival_s", "model", "slo_s"};
    struct growing_trace g = {.t = MX_NEW(struct wl_trace)};
    struct mx_csv csv;
    int col[3];
    int rc;
    mx_strmap_init(&g.names);
    if ((rc = mx_csv_open(path, ',', &csv)) < 0)
        goto done;
    if ((rc = mx_csv_header(&csv)) < 0)
        goto done;
    for (int c = 0; c < 3; c++) {
        col[c] = mx_csv_column(&csv, names[c]);
        if (col[c] < 0) {
            rc = mx_error(MX_EINPUT,
                          "%s:%zu: the header has no column \"%s\" (expected "
                          "arrival_s,model,slo_s)",
                          path, csv.line, names[c]);
            goto done;
        }
    }
    while ((rc = mx_csv_next(&csv)) > 0)
        if ((rc = parse_row(&csv, &g, col)) < 0)
            goto done;
    if (rc < 0)
        goto done;
    if (g.t->n == 0) {
        rc = mx_error(MX_EINPUT, "%s: no requests after the header", path);
        goto done;
    }
    g.t->start_s = g.t->arrival_s[0];
    g.t->duration_s = g.t->arrival_s[g.t->n - 1] - g.t->start_s;
    g.t->path = mx_strdup(path);
    *out = g.t;
    g.t = NULL;
done:
    mx_csv_close(&csv);
    mx_strmap_release(&g.names);
    wl_trace_free(g.t);
    return rc;
}

int wl_trace_write_csv(const struct wl_trace *t, const char *path)
{
    struct mx_out out;
    char arrival[32], slo[32];
    int rc = mx_out_begin(path, true, &out);
    if (rc < 0)
        return rc;
    fputs("arrival_s,model,slo_s\n", out.fp);
    for (size_t i = 0; i < t->n; i++) {
        mx_format_f64(arrival, t->arrival_s[i]);
        mx_format_f64(slo, t->slo_s[i]);
        fprintf(out.fp, "%s,", arrival);
        mx_csv_write_field(out.fp, t->model_names[t->model[i]], ',');
        fprintf(out.fp, ",%s\n", slo);
    }
    return mx_out_commit(&out);
}
