/* The trace container, its per-request validation, and its HDF5 form. */
#include "wl_trace.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "mx_strmap.h"
#include "mx_time.h"
#include "spec_models.h"
#include "spec_profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wl_trace *wl_trace_new(size_t n, uint32_t n_models, const char *const *names)
{
    struct wl_trace *t = MX_NEW(struct wl_trace);
    t->n = n;
    t->arrival_s = mx_malloc_array(n, sizeof(double));
    t->model = mx_malloc_array(n, sizeof(int32_t));
    t->slo_s = mx_malloc_array(n, sizeof(double));
    t->n_models = n_models;
    t->model_names = MX_NEW_ARRAY(char *, n_models);
    for (uint32_t m = 0; m < n_models; m++)
        t->model_names[m] = mx_strdup(names[m]);
    return t;
}

void wl_trace_add_tokens(struct wl_trace *t)
{
    if (wl_trace_has_tokens(t))
        return;
    t->input_tokens = mx_malloc_array(t->n, sizeof(int32_t));
    t->output_tokens = mx_malloc_array(t->n, sizeof(int32_t));
    t->ttft_slo_s = mx_malloc_array(t->n, sizeof(double));
    t->tpot_slo_s = mx_malloc_array(t->n, sizeof(double));
    for (size_t i = 0; i < t->n; i++)
        t->ttft_slo_s[i] = t->tpot_slo_s[i] = INFINITY;
}

void wl_trace_add_block_hashes(struct wl_trace *t, int32_t block_tokens)
{
    if (wl_trace_has_block_hashes(t))
        return;
    if (!wl_trace_has_tokens(t))
        MX_BUG("block hashes without token counts");
    t->block_hash_start = mx_malloc_array(t->n + 1, sizeof(int64_t));
    t->block_hash_start[0] = 0;
    t->block_hashes = mx_malloc_array(1, sizeof(int64_t));
    t->block_hashes_cap = 1;
    t->block_hash_slots = 0;
    t->block_hash_tokens = block_tokens;
}

void wl_trace_append_block_hashes(struct wl_trace *t, size_t k, const int64_t *hashes, size_t n)
{
    if (k != t->block_hash_slots || k >= t->n)
        MX_BUG("block hashes of request %zu filled out of order (next: %zu)", k,
               t->block_hash_slots);
    size_t used = (size_t)t->block_hash_start[k];
    if (used + n > t->block_hashes_cap) {
        t->block_hashes_cap =
            2 * t->block_hashes_cap > used + n ? 2 * t->block_hashes_cap : used + n;
        t->block_hashes = mx_realloc_array(t->block_hashes, t->block_hashes_cap, sizeof(int64_t));
    }
    if (n) /* hashes may be NULL then, and t->block_hashes too */
        memcpy(t->block_hashes + used, hashes, n * sizeof(int64_t));
    t->block_hash_start[k + 1] = (int64_t)(used + n);
    t->block_hash_slots++;
}

void wl_trace_copy_request(struct wl_trace *to, size_t k, const struct wl_trace *from, size_t i)
{
    to->arrival_s[k] = from->arrival_s[i];
    to->model[k] = from->model[i];
    to->slo_s[k] = from->slo_s[i];
    if (!wl_trace_has_tokens(to))
        return;
    bool tokens = wl_trace_has_tokens(from);
    to->input_tokens[k] = tokens ? from->input_tokens[i] : 1;
    to->output_tokens[k] = tokens ? from->output_tokens[i] : 1;
    to->ttft_slo_s[k] = tokens ? from->ttft_slo_s[i] : INFINITY;
    to->tpot_slo_s[k] = tokens ? from->tpot_slo_s[i] : INFINITY;
    if (!wl_trace_has_block_hashes(to))
        return;
    if (wl_trace_has_block_hashes(from)) {
        int64_t first = from->block_hash_start[i];
        size_t n = (size_t)(from->block_hash_start[i + 1] - first);
        wl_trace_append_block_hashes(to, k, n ? from->block_hashes + first : NULL, n);
    } else {
        wl_trace_append_block_hashes(to, k, NULL, 0);
    }
}

void wl_trace_set_model_slos(struct wl_trace *t, const struct spec_model_set *set)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct spec_model *m = &set->models[t->model[i]];
        t->slo_s[i] = m->slo.s;
        if (wl_trace_has_tokens(t)) {
            t->ttft_slo_s[i] = m->ttft.s;
            t->tpot_slo_s[i] = m->tpot.s;
        }
    }
}

void wl_trace_scale_slos(struct wl_trace *t, double k)
{
    for (size_t i = 0; i < t->n; i++) {
        t->slo_s[i] *= k;
        if (wl_trace_has_tokens(t)) {
            t->ttft_slo_s[i] *= k;
            t->tpot_slo_s[i] *= k;
        }
    }
}

void wl_trace_free(struct wl_trace *t)
{
    if (!t)
        return;
    free(t->arrival_s);
    free(t->model);
    free(t->slo_s);
    free(t->input_tokens);
    free(t->output_tokens);
    free(t->ttft_slo_s);
    free(t->tpot_slo_s);
    free(t->block_hash_start);
    free(t->block_hashes);
    for (uint32_t m = 0; m < t->n_models; m++)
        free(t->model_names[m]);
    free(t->model_names);
    free(t->provenance);
    free(t->path);
    free(t);
}

struct wl_trace *wl_trace_select(const struct wl_trace *t, double from_s, double to_s,
                                 const int32_t *map, uint32_t n_models, const char *const *names)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->arrival_s[i] >= from_s && t->arrival_s[i] < to_s && map[t->model[i]] >= 0;
    struct wl_trace *out = wl_trace_new(n, n_models, names);
    if (wl_trace_has_tokens(t))
        wl_trace_add_tokens(out);
    if (wl_trace_has_block_hashes(t))
        wl_trace_add_block_hashes(out, t->block_hash_tokens);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->arrival_s[i] >= from_s && t->arrival_s[i] < to_s && map[t->model[i]] >= 0) {
            wl_trace_copy_request(out, k, t, i);
            out->model[k++] = map[t->model[i]];
        }
    double end = t->start_s + t->duration_s;
    out->start_s = from_s > t->start_s ? from_s : t->start_s;
    out->duration_s = (to_s < end ? to_s : end) - out->start_s;
    if (out->duration_s < 0)
        out->duration_s = 0;
    if (t->path)
        out->path = mx_strdup(t->path);
    return out;
}

/* An SLO: positive seconds up to the largest, or INFINITY for none. */
static bool slo_valid(double slo_s)
{
    return slo_s > 0 && (slo_s <= SPEC_MAX_SLO_S || isinf(slo_s));
}

#define SLO_PROBLEM "SLO is not a positive number of seconds up to 1e6 (nor none)"

const char *wl_trace_request_problem(const struct wl_trace *t, size_t i, const char **field)
{
    double a = t->arrival_s[i];
    *field = "arrival_s";
    if (!mx_time_s_valid(a))
        return "arrival time is not a finite number of seconds below 3.1e9";
    if (a < 0)
        return "arrival time is negative";
    if (i > 0 && a < t->arrival_s[i - 1])
        return "arrival time is before the previous request's (requests must be sorted)";
    *field = "model";
    if (t->model[i] < 0 || (uint32_t)t->model[i] >= t->n_models)
        return "model index is outside the model names";
    *field = "slo_s";
    if (!slo_valid(t->slo_s[i]))
        return SLO_PROBLEM;
    if (!wl_trace_has_tokens(t))
        return NULL;
    *field = "input_tokens";
    if (t->input_tokens[i] < 1 || (uint32_t)t->input_tokens[i] > SPEC_MAX_CONTEXT_TOKENS)
        return "input tokens are not between 1 and 16777216";
    *field = "output_tokens";
    if (t->output_tokens[i] < 1 ||
        (uint32_t)t->output_tokens[i] > SPEC_MAX_CONTEXT_TOKENS - (uint32_t)t->input_tokens[i])
        return "output tokens are not at least 1 with input plus output at most 16777216";
    *field = "ttft_slo_s";
    if (!slo_valid(t->ttft_slo_s[i]))
        return SLO_PROBLEM;
    *field = "tpot_slo_s";
    if (!slo_valid(t->tpot_slo_s[i]))
        return SLO_PROBLEM;
    return NULL;
}

/* Fill the window defaults (first arrival, span) when a file gives none. */
static void default_window(struct wl_trace *t, bool has_start, bool has_duration)
{
    if (!has_start)
        t->start_s = t->arrival_s[0];
    if (!has_duration)
        t->duration_s = t->arrival_s[t->n - 1] - t->start_s;
}

static int read_f64_attr_opt(const struct mx_h5 *h, const char *name, double *out, bool *present)
{
    *present = H5Aexists_by_name(h->id, "/", name, H5P_DEFAULT) > 0;
    H5Eclear2(H5E_DEFAULT);
    if (!*present)
        return MX_OK;
    int rc = mx_h5_attr_read_f64(h, "/", name, out);
    if (rc == MX_OK && !mx_time_s_valid(*out))
        rc = mx_error(MX_EINPUT, "%s: /: attribute \"%s\" is not a valid time", h->path, name);
    return rc;
}

/* Read the 1-D dataset /name of t->n rows into *out (a fresh array). */
static int read_column(const struct mx_h5 *h, const char *name, enum mx_h5_type type, size_t n,
                       void **out)
{
    char path[32];
    size_t dims[2];
    snprintf(path, sizeof path, "/%s", name);
    free(*out);
    *out = NULL;
    int rc = mx_h5_read(h, path, type, 1, dims, out);
    if (rc == MX_OK && dims[0] != n)
        rc = mx_error(MX_EINPUT, "%s: %s: %zu rows, but /arrival_s has %zu", h->path, path, dims[0],
                      n);
    return rc;
}

/* The optional block hashes: both datasets or neither, offsets that cover the hashes in order. */
static int read_block_hashes(const struct mx_h5 *h, struct wl_trace *t)
{
    bool start = mx_h5_exists(h, "/block_hash_start"), hashes = mx_h5_exists(h, "/block_hashes");
    if (start != hashes)
        return mx_error(MX_EINPUT, "%s: /%s: present without /%s", h->path,
                        start ? "block_hash_start" : "block_hashes",
                        start ? "block_hashes" : "block_hash_start");
    if (!start)
        return MX_OK;
    int64_t block_tokens;
    size_t dims[2];
    int rc;
    int64_t *offsets = NULL, *values = NULL;
    if ((rc = mx_h5_read(h, "/block_hash_start", MX_H5_I64, 1, dims, (void **)&offsets)) < 0)
        goto fail;
    if (dims[0] != t->n + 1) {
        rc = mx_error(MX_EINPUT,
                      "%s: /block_hash_start: %zu rows, but /arrival_s has %zu (plus one)", h->path,
                      dims[0], t->n);
        goto fail;
    }
    if ((rc = mx_h5_read(h, "/block_hashes", MX_H5_I64, 1, dims, (void **)&values)) < 0 ||
        (rc = mx_h5_attr_read_i64(h, "/block_hashes", "block_tokens", &block_tokens)) < 0)
        goto fail;
    if (block_tokens < 1 || block_tokens > SPEC_MAX_CONTEXT_TOKENS) {
        rc = mx_error(MX_EINPUT, "%s: /block_hashes: block_tokens is %lld, not 1 to %u", h->path,
                      (long long)block_tokens, SPEC_MAX_CONTEXT_TOKENS);
        goto fail;
    }
    for (size_t i = 0; i <= t->n; i++)
        if (i == 0 ? offsets[0] != 0
                   : offsets[i] < offsets[i - 1] || (uint64_t)offsets[i] > (uint64_t)dims[0]) {
            rc = mx_error(MX_EINPUT, "%s: /block_hash_start[%zu]: %lld is not %s", h->path, i,
                          (long long)offsets[i],
                          i == 0 ? "0" : "between the one before and the count of /block_hashes");
            goto fail;
        }
    if ((uint64_t)offsets[t->n] != (uint64_t)dims[0]) {
        rc = mx_error(MX_EINPUT, "%s: /block_hash_start[%zu]: %lld, but /block_hashes has %zu",
                      h->path, t->n, (long long)offsets[t->n], dims[0]);
        goto fail;
    }
    for (size_t k = 0; k < dims[0]; k++)
        if (values[k] < 0) {
            rc = mx_error(MX_EINPUT, "%s: /block_hashes[%zu]: %lld is negative", h->path, k,
                          (long long)values[k]);
            goto fail;
        }
    t->block_hash_start = offsets;
    t->block_hashes = values ? values : mx_malloc_array(1, sizeof(int64_t));
    t->block_hashes_cap = dims[0] ? dims[0] : 1;
    t->block_hash_slots = t->n;
    t->block_hash_tokens = (int32_t)block_tokens;
    return MX_OK;
fail:
    free(offsets);
    free(values);
    return rc;
}

/* The optional token datasets: all of input_tokens and output_tokens or neither; the SLO ones
 * only with them. */
static int read_tokens(const struct mx_h5 *h, struct wl_trace *t)
{
    bool in = mx_h5_exists(h, "/input_tokens"), out = mx_h5_exists(h, "/output_tokens");
    bool ttft = mx_h5_exists(h, "/ttft_slo_s"), tpot = mx_h5_exists(h, "/tpot_slo_s");
    if (in != out || (!in && (ttft || tpot)))
        return mx_error(MX_EINPUT, "%s: /%s: present without /%s", h->path,
                        in     ? "input_tokens"
                        : out  ? "output_tokens"
                        : ttft ? "ttft_slo_s"
                               : "tpot_slo_s",
                        in ? "output_tokens" : "input_tokens");
    if (!in && (mx_h5_exists(h, "/block_hash_start") || mx_h5_exists(h, "/block_hashes")))
        return mx_error(MX_EINPUT, "%s: /block_hash%s: present without /input_tokens", h->path,
                        mx_h5_exists(h, "/block_hash_start") ? "_start" : "es");
    if (!in)
        return MX_OK;
    wl_trace_add_tokens(t);
    int rc;
    if ((rc = read_column(h, "input_tokens", MX_H5_I32, t->n, (void **)&t->input_tokens)) < 0 ||
        (rc = read_column(h, "output_tokens", MX_H5_I32, t->n, (void **)&t->output_tokens)) < 0 ||
        (ttft &&
         (rc = read_column(h, "ttft_slo_s", MX_H5_F64, t->n, (void **)&t->ttft_slo_s)) < 0) ||
        (tpot && (rc = read_column(h, "tpot_slo_s", MX_H5_F64, t->n, (void **)&t->tpot_slo_s)) < 0))
        return rc;
    return read_block_hashes(h, t);
}

int wl_trace_read_h5(const char *path, struct wl_trace **out)
{
    struct mx_h5 h;
    struct wl_trace *t = MX_NEW(struct wl_trace);
    struct mx_strmap names;
    size_t dims[2], n_names = 0;
    bool has_start, has_duration;
    int rc;
    mx_strmap_init(&names);
    if ((rc = mx_h5_open(path, "trace", 1, &h)) < 0)
        goto done;
    if ((rc = mx_h5_read_strings(&h, "/model_names", &n_names, &t->model_names)) < 0)
        goto done;
    t->n_models = (uint32_t)n_names;
    if ((rc = mx_h5_read(&h, "/arrival_s", MX_H5_F64, 1, dims, (void **)&t->arrival_s)) < 0)
        goto done;
    t->n = dims[0];
    if (t->n == 0) {
        rc = mx_error(MX_EINPUT, "%s: /arrival_s: the trace has no requests", path);
        goto done;
    }
    if ((rc = read_column(&h, "model", MX_H5_I32, t->n, (void **)&t->model)) < 0 ||
        (rc = read_column(&h, "slo_s", MX_H5_F64, t->n, (void **)&t->slo_s)) < 0 ||
        (rc = read_tokens(&h, t)) < 0)
        goto done;
    for (uint32_t m = 0; m < t->n_models; m++) {
        if (!t->model_names[m][0] || !mx_strmap_put(&names, t->model_names[m], m)) {
            rc = mx_error(MX_EINPUT, "%s: /model_names[%u]: \"%s\" is empty or repeated", path, m,
                          t->model_names[m]);
            goto done;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        const char *field, *problem = wl_trace_request_problem(t, i, &field);
        if (problem) {
            rc = mx_error(MX_EINPUT, "%s: /%s[%zu]: %s", path, field, i, problem);
            goto done;
        }
    }
    if ((rc = read_f64_attr_opt(&h, "start_s", &t->start_s, &has_start)) < 0 ||
        (rc = read_f64_attr_opt(&h, "duration_s", &t->duration_s, &has_duration)) < 0 ||
        (rc = mx_h5_attr_read_opt_str(&h, "/", "provenance", &t->provenance)) < 0)
        goto done;
    default_window(t, has_start, has_duration);
    t->path = mx_strdup(path);
    *out = t;
    t = NULL;
done:
    mx_strmap_release(&names);
    mx_h5_abort(&h);
    wl_trace_free(t);
    return rc;
}

static int write_block_hashes(struct mx_h5 *h, const struct wl_trace *t)
{
    if (t->block_hash_slots != t->n)
        MX_BUG("block hashes of %zu requests of %zu filled in", t->block_hash_slots, t->n);
    size_t starts[2] = {t->n + 1, 0}, hashes[2] = {(size_t)t->block_hash_start[t->n], 0};
    int rc;
    if ((rc = mx_h5_write(h, "/block_hash_start", MX_H5_I64, 1, starts, t->block_hash_start)) < 0 ||
        (rc = mx_h5_write(h, "/block_hashes", MX_H5_I64, 1, hashes, t->block_hashes)) < 0)
        return rc;
    return mx_h5_attr_write_i64(h, "/block_hashes", "block_tokens", t->block_hash_tokens);
}

int wl_trace_write_h5(const struct wl_trace *t, const char *path)
{
    struct mx_h5 h;
    size_t n[2] = {t->n, 0}, m[2] = {t->n_models, 0};
    bool tokens = wl_trace_has_tokens(t);
    int rc = mx_h5_create(path, "trace", 1, &h);
    if (rc < 0)
        return rc;
    if ((rc = mx_h5_write(&h, "/arrival_s", MX_H5_F64, 1, n, t->arrival_s)) < 0 ||
        (rc = mx_h5_write(&h, "/model", MX_H5_I32, 1, n, t->model)) < 0 ||
        (rc = mx_h5_write(&h, "/slo_s", MX_H5_F64, 1, n, t->slo_s)) < 0 ||
        (tokens &&
         ((rc = mx_h5_write(&h, "/input_tokens", MX_H5_I32, 1, n, t->input_tokens)) < 0 ||
          (rc = mx_h5_write(&h, "/output_tokens", MX_H5_I32, 1, n, t->output_tokens)) < 0 ||
          (rc = mx_h5_write(&h, "/ttft_slo_s", MX_H5_F64, 1, n, t->ttft_slo_s)) < 0 ||
          (rc = mx_h5_write(&h, "/tpot_slo_s", MX_H5_F64, 1, n, t->tpot_slo_s)) < 0)) ||
        (tokens && wl_trace_has_block_hashes(t) && (rc = write_block_hashes(&h, t)) < 0) ||
        (rc = mx_h5_write_strings(&h, "/model_names", m[0], (const char *const *)t->model_names)) <
            0 ||
        (rc = mx_h5_attr_write_f64(&h, "/", "start_s", t->start_s)) < 0 ||
        (rc = mx_h5_attr_write_f64(&h, "/", "duration_s", t->duration_s)) < 0 ||
        (t->provenance && (rc = mx_h5_attr_write_str(&h, "/", "provenance", t->provenance)) < 0)) {
        mx_h5_abort(&h);
        return rc;
    }
    return mx_h5_close(&h);
}

int wl_trace_read_for_models(const struct spec_model_set *set, const char *path,
                             struct wl_trace **out)
{
    struct wl_trace *loaded = NULL;
    int rc = wl_trace_read_h5(path, &loaded);
    if (rc < 0)
        return rc;
    int32_t *map = MX_NEW_ARRAY(int32_t, loaded->n_models);
    for (uint32_t m = 0; m < loaded->n_models && rc == MX_OK; m++)
        if ((map[m] = spec_models_find(set, loaded->model_names[m])) < 0)
            rc = mx_error(MX_EINPUT, "%s: model \"%s\" of the trace is not in %s", path,
                          loaded->model_names[m], set->path);
    if (rc == MX_OK) {
        const char **names = MX_NEW_ARRAY(const char *, set->n);
        for (uint32_t m = 0; m < set->n; m++)
            names[m] = set->models[m].name;
        *out = wl_trace_select(loaded, -INFINITY, INFINITY, map, set->n, names);
        free(names);
    }
    free(map);
    wl_trace_free(loaded);
    return rc;
}
