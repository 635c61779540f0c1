/* Workload generation: each model's arrivals, and its requests' lengths, on its own streams (in
 * parallel), then a k-way merge by (time, model index) into one trace. */
#include "wl_gen.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "mx_time.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_lengths.h"
#include "wl_trace.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The most requests a generated trace may be expected to hold (the simulator indexes requests with
 * 32 bits, and 1e9 requests of 20 bytes is already 20 GB). */
#define MAX_EXPECTED_REQUESTS 1e9
/* A model stops drawing past this many arrivals: a long-tailed draw cannot run away. */
#define MAX_ARRIVALS_PER_MODEL 2000000000ULL

struct model_arrivals {
    double *t;
    size_t n;
    int32_t *input, *output; /* [n] when the model has lengths, else NULL */
    bool lengths_failed;     /* a draw found no pair that fits */
};

struct gen_job {
    const struct wl_gen_spec *spec;
    const struct spec_model_set *set;
    const double *rates;
    struct wl_lengths *const *lengths; /* [set->n], NULL for a model without */
    struct model_arrivals *out;
    uint32_t first, stride;
};

static double model_cv(const struct wl_gen_spec *spec, const struct spec_model_set *set, uint32_t m)
{
    return set->models[m].cv >= 0 ? set->models[m].cv : spec->cv;
}

static void generate_model(const struct wl_gen_spec *spec, double rate, double cv, uint32_t index,
                           struct model_arrivals *out)
{
    double end = spec->start_s + spec->duration_s;
    double expected = rate * spec->duration_s * 1.2 + 16;
    size_t cap = expected < (double)(1u << 24) ? (size_t)expected : (size_t)1 << 24;
    out->t = mx_malloc_array(cap, sizeof(double));
    out->n = 0;
    if (rate <= 0)
        return;
    gsl_rng *rng = mx_rng_new(spec->seed, "arrivals", index);
    double shape = cv > 0 ? 1.0 / (cv * cv) : 0, scale = cv > 0 ? cv * cv / rate : 0;
    double t = spec->start_s;
    for (uint64_t k = 0; k < MAX_ARRIVALS_PER_MODEL; k++) {
        switch (spec->process) {
        case WL_PROCESS_DETERMINISTIC:
            t = spec->start_s + (double)k / rate;
            break;
        case WL_PROCESS_POISSON:
            t += gsl_ran_exponential(rng, 1.0 / rate);
            break;
        case WL_PROCESS_GAMMA:
            t += gsl_ran_gamma(rng, shape, scale);
            break;
        }
        if (!(t < end))
            break;
        if (out->n == cap) {
            cap *= 2;
            out->t = mx_realloc_array(out->t, cap, sizeof(double));
        }
        /* Stored on the simulator's 1 ns grid, so every reader of the file (this simulator or
         * another one in double precision) sees the same ties; the process itself runs on. */
        out->t[out->n++] = round(t * 1e9) / 1e9;
    }
    gsl_rng_free(rng);
}

/* One pair per arrival, in time order, from the model's own stream. */
static void draw_lengths(const struct wl_gen_spec *spec, const struct wl_lengths *lengths,
                         uint32_t index, struct model_arrivals *out)
{
    out->input = mx_malloc_array(out->n ? out->n : 1, sizeof(int32_t));
    out->output = mx_malloc_array(out->n ? out->n : 1, sizeof(int32_t));
    gsl_rng *rng = mx_rng_new(spec->seed, "lengths", index);
    for (size_t i = 0; i < out->n && !out->lengths_failed; i++)
        out->lengths_failed = !wl_lengths_draw(lengths, rng, &out->input[i], &out->output[i]);
    gsl_rng_free(rng);
}

static void *generate_worker(void *arg)
{
    struct gen_job *job = arg;
    for (uint32_t m = job->first; m < job->set->n; m += job->stride) {
        generate_model(job->spec, job->rates[m], model_cv(job->spec, job->set, m), m, &job->out[m]);
        if (job->lengths[m])
            draw_lengths(job->spec, job->lengths[m], m, &job->out[m]);
    }
    return NULL;
}

/* A binary min-heap of model cursors keyed by (next arrival, model index). */
struct cursor {
    double t;
    uint32_t model;
};

static bool cursor_before(struct cursor a, struct cursor b)
{
    return a.t < b.t || (a.t == b.t && a.model < b.model);
}

static void sift_down(struct cursor *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < n && cursor_before(heap[l], heap[best]))
            best = l;
        if (r < n && cursor_before(heap[r], heap[best]))
            best = r;
        if (best == i)
            return;
        struct cursor tmp = heap[i];
        heap[i] = heap[best];
        heap[best] = tmp;
        i = best;
    }
}

static void merge(const struct spec_model_set *set, struct model_arrivals *arrivals,
                  struct wl_trace *t)
{
    struct cursor *heap = MX_NEW_ARRAY(struct cursor, set->n);
    size_t *next = MX_NEW_ARRAY(size_t, set->n);
    size_t n_heap = 0;
    for (uint32_t m = 0; m < set->n; m++)
        if (arrivals[m].n > 0)
            heap[n_heap++] = (struct cursor){arrivals[m].t[0], m};
    for (size_t i = n_heap; i-- > 0;)
        sift_down(heap, n_heap, i);
    for (size_t i = 0; n_heap > 0; i++) {
        uint32_t m = heap[0].model;
        t->arrival_s[i] = heap[0].t;
        t->model[i] = (int32_t)m;
        t->slo_s[i] = set->models[m].slo.s;
        if (wl_trace_has_tokens(t)) {
            t->input_tokens[i] = arrivals[m].input ? arrivals[m].input[next[m]] : 1;
            t->output_tokens[i] = arrivals[m].output ? arrivals[m].output[next[m]] : 1;
        }
        if (++next[m] < arrivals[m].n)
            heap[0].t = arrivals[m].t[next[m]];
        else
            heap[0] = heap[--n_heap];
        sift_down(heap, n_heap, 0);
    }
    free(next);
    free(heap);
}

const char *wl_rate_dist_parse(const char *text, bool explicit_allowed, enum wl_rate_dist *dist,
                               double *alpha)
{
    const char *expected = explicit_allowed
                               ? "expected equal, power, power:ALPHA (ALPHA in [0, 99]) or explicit"
                               : "expected equal, power or power:ALPHA (ALPHA in [0, 99])";
    if (strcmp(text, "equal") == 0) {
        *dist = WL_RATES_EQUAL;
        return NULL;
    }
    if (explicit_allowed && strcmp(text, "explicit") == 0) {
        *dist = WL_RATES_EXPLICIT;
        return NULL;
    }
    if (strncmp(text, "power", 5) != 0 || (text[5] != '\0' && text[5] != ':'))
        return expected;
    *dist = WL_RATES_POWER;
    *alpha = 0.5;
    if (text[5] == '\0')
        return NULL;
    double v;
    if (!mx_parse_f64(text + 6, &v) || !(v >= 0 && v <= WL_MAX_ALPHA))
        return expected;
    *alpha = v;
    return NULL;
}

int wl_gen_rates(const struct spec_model_set *set, const struct wl_gen_spec *spec, double *rates)
{
    double sum = 0;
    for (uint32_t m = 0; m < set->n; m++) {
        switch (spec->rate_dist) {
        case WL_RATES_EQUAL:
            rates[m] = 1;
            break;
        case WL_RATES_POWER:
            rates[m] = pow((double)m + 1, -spec->alpha);
            break;
        case WL_RATES_EXPLICIT:
            if (set->models[m].rate < 0)
                return mx_error(MX_EINPUT,
                                "%s: models[%u] (\"%s\") gives no \"rate\", which explicit rates "
                                "need",
                                set->path, m, set->models[m].name);
            rates[m] = set->models[m].rate;
            break;
        }
        sum += rates[m];
    }
    bool scale = spec->rate_dist != WL_RATES_EXPLICIT || spec->total_rate > 0;
    if (scale && !(sum > 0))
        return mx_error(MX_EINPUT, "%s: the explicit rates sum to zero", set->path);
    for (uint32_t m = 0; scale && m < set->n; m++)
        rates[m] *= spec->total_rate / sum;
    return MX_OK;
}

static int check_spec(const struct spec_model_set *set, const struct wl_gen_spec *spec)
{
    if (!(mx_time_s_valid(spec->start_s) && spec->start_s >= 0))
        return mx_error(MX_EUSAGE, "the start must be a non-negative time in seconds, got %g",
                        spec->start_s);
    if (!(spec->duration_s > 0 && mx_time_s_valid(spec->start_s + spec->duration_s)))
        return mx_error(MX_EUSAGE,
                        "the duration must be positive, and the start plus it at most %g s, got "
                        "%g s",
                        MX_MAX_TIME_S, spec->duration_s);
    if (spec->rate_dist != WL_RATES_EXPLICIT && !(spec->total_rate > 0 && spec->total_rate < 1e9))
        return mx_error(MX_EUSAGE, "the total rate must be in (0, 1e9) requests per second, got %g",
                        spec->total_rate);
    if (spec->rate_dist == WL_RATES_POWER && !(spec->alpha >= 0 && spec->alpha <= WL_MAX_ALPHA))
        return mx_error(MX_EUSAGE, "power-law alpha must be in [0, %g]", WL_MAX_ALPHA);
    for (uint32_t m = 0; spec->process == WL_PROCESS_GAMMA && m < set->n; m++) {
        double cv = model_cv(spec, set, m);
        if (!(cv >= SPEC_MIN_CV && cv <= SPEC_MAX_CV))
            return mx_error(MX_EINPUT, "model \"%s\": Gamma arrivals need a CV in [%g, %g], got %g",
                            set->models[m].name, SPEC_MIN_CV, SPEC_MAX_CV, cv);
    }
    for (uint32_t m = 0; m < set->n; m++) {
        const struct spec_model *model = &set->models[m];
        if (!(model->slo.s > 0 && model->ttft.s > 0 && model->tpot.s > 0))
            MX_BUG("model set is not resolved: %s has an SLO as a scale", model->name);
    }
    return MX_OK;
}

bool wl_model_is_decoder(const struct spec_model *m, const struct spec_profile *db)
{
    const struct spec_profile_model *base = db ? spec_profile_find_model(db, m->base) : NULL;
    if (base)
        return base->kind == SPEC_DECODER;
    return m->ttft.scale > 0 || !isinf(m->ttft.s) || m->tpot.scale > 0 || !isinf(m->tpot.s);
}

/* The folder of a file's path ("" for the working directory, "/" for the root). Caller frees. */
static char *folder_of(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        return mx_strdup("");
    return slash == path ? mx_strdup("/") : mx_strfmt("%.*s", (int)(slash - path), path);
}

/* Lengths are shared by the models that give the same text, from the same place, with the same
 * limit: an empirical pool of a large trace is then held once, not once per model. Messages name
 * the first model that loaded it. */
struct shared_lengths {
    const char *text; /* borrowed */
    bool own;         /* a model set member's (relative traces from its folder), or the default */
    uint32_t limit;
    struct wl_lengths *lengths;
};

struct lengths_pool {
    size_t n;
    struct shared_lengths *entries;
    struct wl_lengths_cache *cache;
};

static void pool_release(struct lengths_pool *pool)
{
    for (size_t k = 0; k < pool->n; k++)
        wl_lengths_free(pool->entries[k].lengths);
    free(pool->entries);
    wl_lengths_cache_free(pool->cache);
}

/* The bound on a model's requests, input plus output, and what to call it in messages. */
static uint32_t model_limit(const struct wl_gen_spec *spec, const struct spec_model *model,
                            char what[256])
{
    const struct spec_profile_model *base =
        spec->db ? spec_profile_find_model(spec->db, model->base) : NULL;
    uint32_t limit = WL_LENGTHS_MAX_TOKENS;
    snprintf(what, 256, "the largest request (input plus output) allowed");
    if (spec->max_context > 0 && spec->max_context < limit) {
        limit = spec->max_context;
        snprintf(what, 256, "the maximum context of model \"%s\"", model->name);
    }
    if (base && base->kind == SPEC_DECODER && base->decoder.context_tokens < limit) {
        limit = base->decoder.context_tokens;
        snprintf(what, 256, "the context of model \"%s\" (base \"%s\")", model->name, model->base);
    }
    return limit;
}

/* Model m's lengths (borrowed from the pool) with its limit: its own (relative traces from the
 * model set's folder), else the spec's default, else none (*out NULL), which a decoder may not
 * have. */
static int load_model_lengths(const struct spec_model_set *set, const struct wl_gen_spec *spec,
                              uint32_t m, struct lengths_pool *pool, struct wl_lengths **out)
{
    const struct spec_model *model = &set->models[m];
    const char *set_path = set->path ? set->path : "models";
    const char *text = model->lengths ? model->lengths : spec->lengths;
    bool own = model->lengths != NULL;
    *out = NULL;
    if (!text) {
        if (wl_model_is_decoder(model, spec->db))
            return mx_error(MX_EINPUT,
                            "%s: models[%u] (\"%s\", base \"%s\") is a decoder and has no "
                            "\"lengths\": its requests need token counts",
                            set_path, m, model->name, model->base);
        return MX_OK;
    }
    char what[256];
    uint32_t limit = model_limit(spec, model, what);
    for (size_t k = 0; k < pool->n; k++) {
        const struct shared_lengths *e = &pool->entries[k];
        if (e->own == own && e->limit == limit && strcmp(e->text, text) == 0) {
            *out = e->lengths;
            return MX_OK;
        }
    }
    int rc;
    struct wl_lengths *l = NULL;
    if (own) {
        char *where = mx_strfmt("%s: models[%u].lengths", set_path, m);
        char *dir = folder_of(set->path);
        rc = wl_lengths_parse(text, where, dir, pool->cache, &l);
        free(dir);
        free(where);
    } else {
        rc = wl_lengths_parse(text, spec->lengths_where ? spec->lengths_where : "lengths", NULL,
                              pool->cache, &l);
    }
    if (rc == MX_OK && (rc = wl_lengths_limit(l, limit, what)) < 0) {
        wl_lengths_free(l);
        l = NULL;
    }
    if (rc < 0)
        return rc;
    pool->entries = mx_realloc_array(pool->entries, pool->n + 1, sizeof(struct shared_lengths));
    pool->entries[pool->n++] = (struct shared_lengths){text, own, limit, l};
    *out = l;
    return MX_OK;
}

/* Every model's lengths (NULL for none; borrowed from the pool) into lengths[set->n]; whether any
 * model has some. */
static int load_lengths(const struct spec_model_set *set, const struct wl_gen_spec *spec,
                        struct lengths_pool *pool, struct wl_lengths **lengths, bool *any)
{
    int rc = MX_OK;
    *any = false;
    pool->cache = wl_lengths_cache_new();
    for (uint32_t m = 0; rc == MX_OK && m < set->n; m++) {
        rc = load_model_lengths(set, spec, m, pool, &lengths[m]);
        *any = *any || lengths[m];
    }
    /* The pools hold copies of the pairs: the traces they came from are not needed any more. */
    wl_lengths_cache_free(pool->cache);
    pool->cache = NULL;
    return rc;
}

static int check_size(const struct spec_model_set *set, const struct wl_gen_spec *spec,
                      const double *rates)
{
    double expected = 0;
    for (uint32_t m = 0; m < set->n; m++)
        expected += rates[m] * spec->duration_s;
    if (expected > MAX_EXPECTED_REQUESTS)
        return mx_error(MX_EUSAGE,
                        "the workload would hold about %.3g requests, more than %.0e: lower its "
                        "rate or its duration",
                        expected, MAX_EXPECTED_REQUESTS);
    return MX_OK;
}

int wl_gen(const struct spec_model_set *set, const struct wl_gen_spec *spec, struct wl_trace **out)
{
    int rc = check_spec(set, spec);
    if (rc < 0)
        return rc;
    double *rates = MX_NEW_ARRAY(double, set->n);
    struct wl_lengths **lengths = MX_NEW_ARRAY(struct wl_lengths *, set->n);
    struct lengths_pool pool = {0};
    bool tokens = false;
    if ((rc = wl_gen_rates(set, spec, rates)) < 0 || (rc = check_size(set, spec, rates)) < 0 ||
        (rc = load_lengths(set, spec, &pool, lengths, &tokens)) < 0) {
        pool_release(&pool);
        free(lengths);
        free(rates);
        return rc;
    }
    struct model_arrivals *arrivals = MX_NEW_ARRAY(struct model_arrivals, set->n);
    unsigned threads = spec->threads < 1 ? 1 : spec->threads;
    if (threads > set->n)
        threads = set->n;
    struct gen_job *jobs = MX_NEW_ARRAY(struct gen_job, threads);
    pthread_t *tids = MX_NEW_ARRAY(pthread_t, threads);
    for (unsigned w = 0; w < threads; w++) {
        jobs[w] = (struct gen_job){spec, set, rates, lengths, arrivals, w, threads};
        if (w > 0 && pthread_create(&tids[w], NULL, generate_worker, &jobs[w]) != 0)
            MX_BUG("cannot start a generator thread");
    }
    generate_worker(&jobs[0]);
    for (unsigned w = 1; w < threads; w++)
        pthread_join(tids[w], NULL);

    size_t total = 0;
    int32_t failed = -1;
    for (uint32_t m = 0; m < set->n; m++) {
        total += arrivals[m].n;
        if (failed < 0 && arrivals[m].lengths_failed)
            failed = (int32_t)m;
    }
    if (failed >= 0) {
        rc = mx_error(MX_EINPUT,
                      "%s: %d pairs in a row did not fit 1 <= tokens and input plus output <= %u: "
                      "lengths too long for model \"%s\"",
                      wl_lengths_where(lengths[failed]), WL_LENGTHS_MAX_REDRAWS,
                      wl_lengths_max_tokens(lengths[failed]), set->models[failed].name);
    } else if (total == 0) {
        rc = mx_error(MX_EINPUT,
                      "the generated workload has no requests (%g s at the models' rates): "
                      "make it longer or its rates higher",
                      spec->duration_s);
    } else {
        const char **names = MX_NEW_ARRAY(const char *, set->n);
        for (uint32_t m = 0; m < set->n; m++)
            names[m] = set->models[m].name;
        struct wl_trace *t = wl_trace_new(total, set->n, names);
        free(names);
        if (tokens)
            wl_trace_add_tokens(t);
        merge(set, arrivals, t);
        if (tokens)
            wl_trace_set_model_slos(t, set);
        t->start_s = spec->start_s;
        t->duration_s = spec->duration_s;
        *out = t;
    }
    for (uint32_t m = 0; m < set->n; m++) {
        free(arrivals[m].t);
        free(arrivals[m].input);
        free(arrivals[m].output);
    }
    pool_release(&pool);
    free(lengths);
    free(arrivals);
    free(jobs);
    free(tids);
    free(rates);
    return rc;
}
