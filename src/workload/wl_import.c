/* wl_import(): the format table and the pipeline of wl_import.h, step by step. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "wl_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A format: its reader and, for timestamp traces, the defaults it gives the spec. */
struct import_format {
    const char *name;
    int (*read)(const char *path, const struct wl_import_spec *spec,
                const struct wl_token_columns *columns, struct wl_source *out);
    const char *time_column, *time_unit, *key_column;
    double spread_s;
    struct wl_token_columns tokens; /* the columns of its token counts, if any */
};

static int read_csv(const char *path, const struct wl_import_spec *spec,
                    const struct wl_token_columns *columns, struct wl_source *out)
{
    return wl__read_text(path, spec, columns, ',', out);
}

static int read_tsv(const char *path, const struct wl_import_spec *spec,
                    const struct wl_token_columns *columns, struct wl_source *out)
{
    return wl__read_text(path, spec, columns, '\t', out);
}

/* Mooncake's hash_ids hash blocks of 512 tokens (its FAST'25 release's README). */
#define MOONCAKE_BLOCK_TOKENS 512

static const struct import_format formats[] = {
    {.name = "csv", .read = read_csv},
    {.name = "tsv", .read = read_tsv},
    {.name = "jsonl", .read = wl__read_jsonl},
    /* TIMESTAMP "2023-11-16 18:17:03.9799600"; one service per file. */
    {.name = "azure-llm-2023",
     .read = read_csv,
     .time_column = "TIMESTAMP",
     .time_unit = "datetime",
     .tokens = {.input = "ContextTokens", .output = "GeneratedTokens"}},
    /* Milliseconds, quantized to steps of 3 s. */
    {.name = "mooncake",
     .read = wl__read_jsonl,
     .time_column = "timestamp",
     .time_unit = "ms",
     .spread_s = 3,
     .tokens = {.input = "input_length",
                .output = "output_length",
                .hashes = "hash_ids",
                .hash_block_tokens = MOONCAKE_BLOCK_TOKENS}},
    /* One-second resolution; the base model is the key. Images, not tokens. */
    {.name = "alibaba-genai-lora",
     .read = read_csv,
     .time_column = "gmt_create",
     .time_unit = "datetime",
     .key_column = "checkpoint_model_version_id",
     .spread_s = 1},
    /* Whole seconds; ChatGPT or GPT-4; failed requests have 0 response tokens. */
    {.name = "burstgpt",
     .read = read_csv,
     .time_column = "Timestamp",
     .time_unit = "s",
     .key_column = "Model",
     .spread_s = 1,
     .tokens = {.input = "Request tokens", .output = "Response tokens"}},
    {.name = "azure-functions", .read = wl__read_counts},
    /* Lengths from the chunk-<i>-dataset.json files, when they are there. */
    {.name = "servegen", .read = wl__read_servegen},
};

#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

const char *const wl_import_formats[N_FORMATS + 1] = {
    "csv",      "tsv",
    "jsonl",    "azure-llm-2023",
    "mooncake", "alibaba-genai-lora",
    "burstgpt", "azure-functions",
    "servegen", NULL,
};

struct wl_import_spec wl_import_spec_default(void)
{
    return (struct wl_import_spec){
        .spread_s = -1, .speed_up = 1, .rate_scale = 1, .cv_scale = 1, .map = WL_MAP_DEFAULT};
}

/* The token columns to read: none with no_tokens, the spec's when it names them, else the
 * format's. MX_EUSAGE when the spec names one column of the pair, or a column with no_tokens. */
static int token_columns(const struct import_format *f, const struct wl_import_spec *spec,
                         struct wl_token_columns *out)
{
    bool named = spec->input_column || spec->output_column;
    *out = (struct wl_token_columns){0};
    if (named && spec->no_tokens)
        return mx_error(MX_EUSAGE, "--no-tokens excludes --input-column and --output-column");
    if (named && !(spec->input_column && spec->output_column))
        return mx_error(MX_EUSAGE, "--input-column and --output-column go together");
    if (named && (f->read == wl__read_counts || f->read == wl__read_servegen))
        return mx_error(MX_EUSAGE, "%s is a rate trace: it has no token columns to name", f->name);
    if (spec->no_tokens)
        return MX_OK;
    *out = f->tokens;
    if (named) {
        out->input = spec->input_column;
        out->output = spec->output_column;
    }
    return MX_OK;
}

/* spec with the format's defaults where the user gave nothing. */
static struct wl_import_spec with_defaults(const struct import_format *f,
                                           const struct wl_import_spec *spec)
{
    struct wl_import_spec s = *spec;
    if (!s.time_column)
        s.time_column = f->time_column;
    if (!s.time_unit)
        s.time_unit = f->time_unit;
    if (!s.key_column)
        s.key_column = f->key_column;
    if (s.spread_s < 0)
        s.spread_s = f->spread_s;
    return s;
}

static int timestamp_steps(struct wl_source *src, const struct wl_import_spec *s, const char *path)
{
    struct wl_arrivals *a = &src->arrivals;
    wl__arrivals_spread(a, s->spread_s, s->seed);
    wl__arrivals_window(a, s->from_s, s->to_s, s->speed_up);
    if (a->n == 0)
        return mx_error(MX_EINPUT, "%s: no requests are left after the time window", path);
    if (s->refit_window_s <= 0) {
        if (s->cv_scale != 1)
            return mx_error(MX_EUSAGE, "--cv-scale needs --refit for a timestamp trace");
        if ((double)a->n * s->rate_scale > WL_IMPORT_MAX_REQUESTS)
            return mx_error(MX_EINPUT,
                            "%s: --rate-scale %g would make %.3g requests (at most %.3g)", path,
                            s->rate_scale, (double)a->n * s->rate_scale, WL_IMPORT_MAX_REQUESTS);
        wl__arrivals_rescale(a, s->rate_scale, s->seed);
        return MX_OK;
    }
    /* Refit: the arrivals become windows, generated like a rate trace. */
    wl__windows_fit(a, s->refit_window_s, &src->windows);
    wl__arrivals_release(a);
    wl__arrivals_init(a);
    src->is_rate = true;
    return MX_OK;
}

int wl_import(const char *path, const struct wl_import_spec *spec, struct wl_trace **out,
              struct wl_import_report *report)
{
    const struct import_format *f = NULL;
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strcmp(spec->format, formats[i].name) == 0)
            f = &formats[i];
    if (!f)
        return mx_error(MX_EUSAGE, "unknown format \"%s\"", spec->format);
    struct wl_import_spec s = with_defaults(f, spec);
    struct wl_token_columns columns;
    struct wl_source src = {0};
    memset(report, 0, sizeof(*report));
    int rc = token_columns(f, spec, &columns);
    if (rc < 0)
        return rc;
    wl__arrivals_init(&src.arrivals);
    wl__windows_init(&src.windows);
    rc = f->read(path, &s, &columns, &src);
    report->rows = src.rows;
    report->skipped_rows = src.skipped_rows;
    report->zero_token_rows = src.zero_token_rows;
    report->keys = src.is_rate ? src.windows.keys.n : src.arrivals.keys.n;
    bool was_rate = src.is_rate;
    if (rc == MX_OK && !src.is_rate)
        rc = timestamp_steps(&src, &s, path);
    if (rc == MX_OK && src.is_rate) {
        if (was_rate)
            wl__windows_clip(&src.windows, s.from_s, s.to_s, s.speed_up);
        if (src.windows.n == 0)
            rc = mx_error(MX_EINPUT, "%s: no traffic is left after the time window", path);
        else
            rc = wl__windows_generate(&src.windows, s.rate_scale, s.cv_scale, s.seed, path,
                                      &src.arrivals);
    }
    if (rc == MX_OK)
        rc = wl__map_to_trace(&src.arrivals, &s, path, out, report);
    wl__arrivals_release(&src.arrivals);
    wl__windows_release(&src.windows);
    return rc;
}

int wl_trace_refit(const struct wl_trace *t, double window_s, double rate_scale, double cv_scale,
                   uint64_t seed, struct wl_trace **out)
{
    struct wl_arrivals a, generated;
    struct wl_windows windows;
    /* A model's SLOs are those of its first request in t. */
    int64_t *first = mx_malloc_array(t->n_models ? t->n_models : 1, sizeof(int64_t));
    wl__arrivals_init(&a);
    wl__arrivals_init(&generated);
    wl__windows_init(&windows);
    a.has_tokens = wl_trace_has_tokens(t);
    /* Keys in model order, so that a key is its model's index. */
    for (uint32_t m = 0; m < t->n_models; m++) {
        wl__keys_intern(&a.keys, t->model_names[m]);
        first[m] = -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        struct wl_request_tokens tokens = {0};
        if (a.has_tokens)
            tokens = (struct wl_request_tokens){t->input_tokens[i], t->output_tokens[i], 0, 0};
        wl__arrivals_push(&a, t->arrival_s[i] - t->start_s, (uint32_t)t->model[i], &tokens);
        if (first[t->model[i]] < 0)
            first[t->model[i]] = (int64_t)i;
    }
    a.end_s = t->duration_s;
    wl__windows_fit(&a, window_s, &windows);
    int rc = windows.n
                 ? wl__windows_generate(&windows, rate_scale, cv_scale, seed,
                                        t->path ? t->path : "trace", &generated)
                 : mx_error(MX_EINPUT, "%s: no requests to refit", t->path ? t->path : "trace");
    if (rc == MX_OK && generated.n == 0)
        rc = mx_error(MX_EINPUT, "%s: the refit generated no request", t->path ? t->path : "trace");
    if (rc == MX_OK) {
        struct wl_trace *r =
            wl_trace_new(generated.n, t->n_models, (const char *const *)t->model_names);
        if (a.has_tokens)
            wl_trace_add_tokens(r);
        for (size_t i = 0; i < generated.n; i++) {
            /* Every field of the model's first request, then this request's own. */
            wl_trace_copy_request(r, i, t, (size_t)first[generated.key[i]]);
            r->arrival_s[i] = round((generated.time_s[i] + t->start_s) * 1e9) / 1e9;
            if (a.has_tokens) {
                r->input_tokens[i] = generated.tokens[i].input;
                r->output_tokens[i] = generated.tokens[i].output;
            }
        }
        r->start_s = t->start_s;
        r->duration_s = t->duration_s;
        *out = r;
    }
    wl__windows_release(&windows);
    wl__arrivals_release(&generated);
    wl__arrivals_release(&a);
    free(first);
    return rc;
}
