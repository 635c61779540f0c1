/* The CSV form of a trace: header arrival_s,model,slo_s and optionally the token columns (any
 * order, extra columns ignored; wl_trace.h), one request per row, model given by name. Model
 * indices follow the order of first appearance. */
#include "wl_trace.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_strmap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct growing_trace {
    struct wl_trace *t;
    size_t cap;
    uint32_t names_cap;
    struct mx_strmap names;
};

static void reserve_row(struct growing_trace *g, bool tokens)
{
    struct wl_trace *t = g->t;
    if (t->n < g->cap)
        return;
    g->cap = g->cap ? 2 * g->cap : 1024;
    t->arrival_s = mx_realloc_array(t->arrival_s, g->cap, sizeof(double));
    t->model = mx_realloc_array(t->model, g->cap, sizeof(int32_t));
    t->slo_s = mx_realloc_array(t->slo_s, g->cap, sizeof(double));
    if (!tokens)
        return;
    t->input_tokens = mx_realloc_array(t->input_tokens, g->cap, sizeof(int32_t));
    t->output_tokens = mx_realloc_array(t->output_tokens, g->cap, sizeof(int32_t));
    t->ttft_slo_s = mx_realloc_array(t->ttft_slo_s, g->cap, sizeof(double));
    t->tpot_slo_s = mx_realloc_array(t->tpot_slo_s, g->cap, sizeof(double));
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

/* The columns a trace file may have, in this order; -1 where absent. */
enum column { ARRIVAL, MODEL, SLO, INPUT, OUTPUT, TTFT, TPOT, N_COLUMNS };

static const char *const column_names[N_COLUMNS] = {
    "arrival_s", "model", "slo_s", "input_tokens", "output_tokens", "ttft_slo_s", "tpot_slo_s"};

/* An SLO field: seconds, or empty for none. */
static bool parse_slo(const char *text, double *out)
{
    const char *p = text + strspn(text, " \t");
    if (!*p) {
        *out = INFINITY;
        return true;
    }
    return mx_parse_f64(text, out);
}

/* A token count field: a whole number in int32's range (the range check is the trace's). */
static bool parse_tokens(const char *text, int32_t *out)
{
    double v;
    if (!mx_parse_f64(text, &v) || v != floor(v) || fabs(v) > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

static int field_error(const struct mx_csv *csv, const int col[N_COLUMNS], enum column c,
                       const char *what)
{
    return mx_error(MX_EINPUT, "%s:%zu: %s: \"%s\" is not %s", csv->path, csv->line,
                    column_names[c], csv->fields[col[c]], what);
}

#define NOT_AN_SLO "a number (nor empty for none)"

static int parse_row(struct mx_csv *csv, struct growing_trace *g, const int col[N_COLUMNS])
{
    struct wl_trace *t = g->t;
    bool tokens = col[INPUT] >= 0;
    for (int c = 0; c < N_COLUMNS; c++)
        if (col[c] >= 0 && (size_t)col[c] >= csv->n_fields)
            return mx_error(MX_EINPUT, "%s:%zu: %s: missing (the row has %zu fields)", csv->path,
                            csv->line, column_names[c], csv->n_fields);
    reserve_row(g, tokens);
    size_t i = t->n;
    const char *model = csv->fields[col[MODEL]];
    if (!mx_parse_f64(csv->fields[col[ARRIVAL]], &t->arrival_s[i]))
        return field_error(csv, col, ARRIVAL, "a number");
    if (!parse_slo(csv->fields[col[SLO]], &t->slo_s[i]))
        return field_error(csv, col, SLO, NOT_AN_SLO);
    if (!model[0])
        return mx_error(MX_EINPUT, "%s:%zu: model: empty name", csv->path, csv->line);
    t->model[i] = model_index(g, model);
    if (tokens) {
        if (!parse_tokens(csv->fields[col[INPUT]], &t->input_tokens[i]))
            return field_error(csv, col, INPUT, "a whole number");
        if (!parse_tokens(csv->fields[col[OUTPUT]], &t->output_tokens[i]))
            return field_error(csv, col, OUTPUT, "a whole number");
        t->ttft_slo_s[i] = t->tpot_slo_s[i] = INFINITY;
        if (col[TTFT] >= 0 && !parse_slo(csv->fields[col[TTFT]], &t->ttft_slo_s[i]))
            return field_error(csv, col, TTFT, NOT_AN_SLO);
        if (col[TPOT] >= 0 && !parse_slo(csv->fields[col[TPOT]], &t->tpot_slo_s[i]))
            return field_error(csv, col, TPOT, NOT_AN_SLO);
    }
    const char *field, *problem = wl_trace_request_problem(t, i, &field);
    if (problem)
        return mx_error(MX_EINPUT, "%s:%zu: %s: %s", csv->path, csv->line, field, problem);
    t->n++;
    return MX_OK;
}

/* Find the columns: the first three are required, the token pair both or neither, the decoder
 * SLOs only with the tokens. */
static int find_columns(struct mx_csv *csv, int col[N_COLUMNS])
{
    for (int c = 0; c < N_COLUMNS; c++)
        col[c] = mx_csv_column(csv, column_names[c]);
    for (int c = ARRIVAL; c <= SLO; c++)
        if (col[c] < 0)
            return mx_error(MX_EINPUT,
                            "%s:%zu: the header has no column \"%s\" (expected "
                            "arrival_s,model,slo_s)",
                            csv->path, csv->line, column_names[c]);
    for (int c = INPUT; c < N_COLUMNS; c++) {
        int needed = c == INPUT ? OUTPUT : INPUT;
        if (col[c] >= 0 && col[needed] < 0)
            return mx_error(MX_EINPUT, "%s:%zu: the header names \"%s\" but not \"%s\"", csv->path,
                            csv->line, column_names[c], column_names[needed]);
    }
    return MX_OK;
}

int wl_trace_read_csv(const char *path, struct wl_trace **out)
{
    struct growing_trace g = {.t = MX_NEW(struct wl_trace)};
    struct mx_csv csv;
    int col[N_COLUMNS];
    int rc;
    mx_strmap_init(&g.names);
    if ((rc = mx_csv_open(path, ',', &csv)) < 0 || (rc = mx_csv_header(&csv)) < 0 ||
        (rc = find_columns(&csv, col)) < 0)
        goto done;
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

/* An SLO as written: empty for none. */
static void format_slo(char buf[32], double slo_s)
{
    if (isinf(slo_s))
        buf[0] = 0;
    else
        mx_format_f64(buf, slo_s);
}

int wl_trace_write_csv(const struct wl_trace *t, const char *path)
{
    struct mx_out out;
    char arrival[32], slo[32], ttft[32], tpot[32];
    bool tokens = wl_trace_has_tokens(t);
    int rc = mx_out_begin(path, true, &out);
    if (rc < 0)
        return rc;
    fputs(tokens ? "arrival_s,model,slo_s,input_tokens,output_tokens,ttft_slo_s,tpot_slo_s\n"
                 : "arrival_s,model,slo_s\n",
          out.fp);
    for (size_t i = 0; i < t->n; i++) {
        mx_format_f64(arrival, t->arrival_s[i]);
        format_slo(slo, t->slo_s[i]);
        fprintf(out.fp, "%s,", arrival);
        mx_csv_write_field(out.fp, t->model_names[t->model[i]], ',');
        fprintf(out.fp, ",%s", slo);
        if (tokens) {
            format_slo(ttft, t->ttft_slo_s[i]);
            format_slo(tpot, t->tpot_slo_s[i]);
            fprintf(out.fp, ",%d,%d,%s,%s", t->input_tokens[i], t->output_tokens[i], ttft, tpot);
        }
        fputc('\n', out.fp);
    }
    return mx_out_commit(&out);
}
