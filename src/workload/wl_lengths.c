/* Request length distributions: the grammar of wl_lengths.h, parsed here alone, and the draws.
 *
 * A side is a kind with its parameters plus optional repeated terms (a multimodal prompt's images).
 * Zipf uses rejection-inversion (Hörmann and Derflinger, 1996), which needs no table however large
 * MAX is; tables (ServeGen) use GSL's alias method. */
#include "wl_lengths_int.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "wl_trace.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum side_kind { SIDE_FIXED, SIDE_UNIFORM, SIDE_LOGNORMAL, SIDE_ZIPF, SIDE_TABLE };

struct term {
    struct wl__side *count, *each;
};

struct wl__side {
    enum side_kind kind;
    int32_t lo, hi;       /* fixed: lo; uniform: lo..hi; zipf: 1..hi; table: first..hi */
    double mu, sigma;     /* lognormal: of the underlying normal */
    double s, h_lo, h_hi; /* zipf: exponent, and H(1.5) - 1 and H(MAX + 0.5) */
    gsl_ran_discrete_t *table;
    int32_t *values; /* table: [its entries] */
    size_t n_terms;
    struct term *terms;
};

struct wl_lengths {
    char *where;
    uint32_t max_tokens;
    struct wl__side *input, *output; /* independent sides, or both NULL for pairs */
    size_t n_pairs;                  /* empirical: pairs that fit the limit come first */
    size_t n_all_pairs;
    int32_t *pair_input, *pair_output;
};

struct cached_trace {
    char *path;
    struct wl_trace *trace;
};

struct wl_lengths_cache {
    size_t n;
    struct cached_trace *traces;
};

struct wl_lengths_cache *wl_lengths_cache_new(void)
{
    return MX_NEW(struct wl_lengths_cache);
}

void wl_lengths_cache_free(struct wl_lengths_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->n; i++) {
        free(cache->traces[i].path);
        wl_trace_free(cache->traces[i].trace);
    }
    free(cache->traces);
    free(cache);
}

void wl__side_free(struct wl__side *side)
{
    if (!side)
        return;
    for (size_t i = 0; i < side->n_terms; i++) {
        wl__side_free(side->terms[i].count);
        wl__side_free(side->terms[i].each);
    }
    free(side->terms);
    free(side->values);
    if (side->table)
        gsl_ran_discrete_free(side->table);
    free(side);
}

void wl_lengths_free(struct wl_lengths *l)
{
    if (!l)
        return;
    wl__side_free(l->input);
    wl__side_free(l->output);
    free(l->pair_input);
    free(l->pair_output);
    free(l->where);
    free(l);
}

const char *wl_lengths_where(const struct wl_lengths *l)
{
    return l->where;
}

uint32_t wl_lengths_max_tokens(const struct wl_lengths *l)
{
    return l->max_tokens;
}

/* ---- Zipf by rejection-inversion. h(x) = x^-s; H is an antiderivative of h, written through
 * expm1 and log1p so that it stays exact near s = 1 (where H(x) = ln x). */

static double expm1_over(double t) /* (e^t - 1) / t, 1 at t = 0 */
{
    return fabs(t) > 1e-8 ? expm1(t) / t : 1 + t / 2;
}

static double log1p_over(double t) /* ln(1 + t) / t, 1 at t = 0 */
{
    return fabs(t) > 1e-8 ? log1p(t) / t : 1 - t / 2;
}

static double zipf_H(double s, double x)
{
    double lx = log(x);
    return lx * expm1_over((1 - s) * lx);
}

static double zipf_H_inverse(double s, double y)
{
    return exp(y * log1p_over((1 - s) * y));
}

/* u uniform over [H(1.5) - h(1), H(MAX + 0.5)): x = H^-1(u) rounds to k, accepted when u lies in
 * the top h(k) of k's interval [H(k - 0.5), H(k + 0.5)), which h's convexity makes long enough;
 * k = 1's interval is exactly h(1) long. Accepted k has probability proportional to h(k). */
static int64_t zipf_draw(const struct wl__side *z, gsl_rng *rng)
{
    for (;;) {
        double u = z->h_lo + gsl_rng_uniform(rng) * (z->h_hi - z->h_lo);
        double x = zipf_H_inverse(z->s, u);
        double k = floor(x + 0.5);
        if (k < 1)
            k = 1;
        if (k > z->hi)
            k = z->hi;
        if (u >= zipf_H(z->s, k + 0.5) - pow(k, -z->s))
            return (int64_t)k;
    }
}

static int64_t side_draw(const struct wl__side *side, gsl_rng *rng)
{
    int64_t v = 0;
    switch (side->kind) {
    case SIDE_FIXED:
        v = side->lo;
        break;
    case SIDE_UNIFORM:
        v = side->lo + (int64_t)gsl_rng_uniform_int(rng, (unsigned long)(side->hi - side->lo) + 1);
        break;
    case SIDE_LOGNORMAL: {
        double x = floor(gsl_ran_lognormal(rng, side->mu, side->sigma) + 0.5);
        v = x < (double)INT32_MAX ? (int64_t)x : INT32_MAX;
        break;
    }
    case SIDE_ZIPF:
        v = zipf_draw(side, rng);
        break;
    case SIDE_TABLE:
        v = side->values[gsl_ran_discrete(rng, side->table)];
        break;
    }
    for (size_t i = 0; i < side->n_terms; i++) {
        int64_t count = side_draw(side->terms[i].count, rng);
        for (int64_t c = 0; c < count && v <= INT32_MAX; c++)
            v += side_draw(side->terms[i].each, rng);
    }
    return v;
}

/* The smallest and largest values a side gives (INT64_MAX: unbounded). */
static int64_t side_min(const struct wl__side *side)
{
    int64_t v = side->kind == SIDE_LOGNORMAL ? 0 : side->lo;
    for (size_t i = 0; i < side->n_terms; i++)
        v += side_min(side->terms[i].count) * side_min(side->terms[i].each);
    return v;
}

int64_t wl__side_max(const struct wl__side *side)
{
    int64_t v = side->kind == SIDE_LOGNORMAL ? INT64_MAX : side->hi;
    for (size_t i = 0; i < side->n_terms && v < INT64_MAX; i++) {
        int64_t count = wl__side_max(side->terms[i].count),
                each = wl__side_max(side->terms[i].each);
        if (count == INT64_MAX || each == INT64_MAX || (count > 0 && each > INT32_MAX / count))
            return INT64_MAX;
        v += count * each;
    }
    return v;
}

bool wl_lengths_draw(const struct wl_lengths *l, gsl_rng *rng, int32_t *input, int32_t *output)
{
    if (!l->input) {
        size_t k = (size_t)gsl_rng_uniform_int(rng, (unsigned long)l->n_pairs);
        *input = l->pair_input[k];
        *output = l->pair_output[k];
        return true;
    }
    for (int tries = 0; tries < WL_LENGTHS_MAX_REDRAWS; tries++) {
        int64_t in = side_draw(l->input, rng), out = side_draw(l->output, rng);
        if (in >= 1 && out >= 1 && in + out <= l->max_tokens) {
            *input = (int32_t)in;
            *output = (int32_t)out;
            return true;
        }
    }
    return false;
}

int wl_lengths_limit(struct wl_lengths *l, uint32_t max_tokens, const char *what)
{
    if (max_tokens > WL_LENGTHS_MAX_TOKENS)
        max_tokens = WL_LENGTHS_MAX_TOKENS;
    l->max_tokens = max_tokens;
    if (!l->input) {
        /* Pairs that fit first, in their order: draws index the first n_pairs. */
        size_t kept = 0;
        for (size_t i = 0; i < l->n_all_pairs; i++)
            if ((uint32_t)l->pair_input[i] + (uint32_t)l->pair_output[i] <= max_tokens) {
                int32_t in = l->pair_input[i], out = l->pair_output[i];
                l->pair_input[i] = l->pair_input[kept];
                l->pair_output[i] = l->pair_output[kept];
                l->pair_input[kept] = in;
                l->pair_output[kept++] = out;
            }
        l->n_pairs = kept;
        if (kept == 0)
            return mx_error(MX_EINPUT,
                            "%s: none of the %zu requests fits %s (input plus output at most %u "
                            "tokens)",
                            l->where, l->n_all_pairs, what, max_tokens);
        return MX_OK;
    }
    int64_t in_min = side_min(l->input), out_min = side_min(l->output);
    in_min = in_min < 1 ? 1 : in_min;
    out_min = out_min < 1 ? 1 : out_min;
    if (in_min + out_min > max_tokens)
        return mx_error(MX_EINPUT,
                        "%s: the shortest request (%lld input plus %lld output tokens) is over %s "
                        "(%u tokens)",
                        l->where, (long long)in_min, (long long)out_min, what, max_tokens);
    return MX_OK;
}

static struct wl_lengths *lengths_new(const char *where)
{
    struct wl_lengths *l = MX_NEW(struct wl_lengths);
    l->where = mx_strdup(where);
    l->max_tokens = WL_LENGTHS_MAX_TOKENS;
    return l;
}

struct wl_lengths *wl__lengths_of_sides(struct wl__side *input, struct wl__side *output,
                                        const char *where)
{
    struct wl_lengths *l = lengths_new(where);
    l->input = input;
    l->output = output;
    return l;
}

struct wl_lengths *wl_lengths_empirical(size_t n, const int32_t *input, const int32_t *output,
                                        const char *where)
{
    struct wl_lengths *l = lengths_new(where);
    l->n_pairs = l->n_all_pairs = n;
    l->pair_input = mx_malloc_array(n ? n : 1, sizeof(int32_t));
    l->pair_output = mx_malloc_array(n ? n : 1, sizeof(int32_t));
    memcpy(l->pair_input, input, n * sizeof(int32_t));
    memcpy(l->pair_output, output, n * sizeof(int32_t));
    return l;
}

struct wl__side *wl__side_table(const int32_t *values, const double *weights, size_t n)
{
    int32_t lo = INT32_MAX, hi = -1;
    for (size_t k = 0; k < n; k++) {
        if (!(weights[k] >= 0 && isfinite(weights[k])) || values[k] < 0)
            return NULL;
        if (weights[k] > 0) {
            lo = values[k] < lo ? values[k] : lo;
            hi = values[k] > hi ? values[k] : hi;
        }
    }
    if (hi < 0)
        return NULL;
    struct wl__side *side = MX_NEW(struct wl__side);
    side->kind = SIDE_TABLE;
    side->lo = lo;
    side->hi = hi;
    side->values = mx_malloc_array(n, sizeof(int32_t));
    memcpy(side->values, values, n * sizeof(int32_t));
    side->table = gsl_ran_discrete_preproc(n, weights);
    return side;
}

void wl__side_add_repeated(struct wl__side *side, struct wl__side *count, struct wl__side *each)
{
    side->terms = mx_realloc_array(side->terms, side->n_terms + 1, sizeof(struct term));
    side->terms[side->n_terms++] = (struct term){count, each};
}

/* ---- The grammar. */

#define SIDE_GRAMMAR                                                                               \
    "N, fixed:N, uniform:LO,HI, lognormal:MEDIAN,SIGMA or zipf:S,MAX (N, LO, HI, MAX whole "       \
    "numbers from 1 to 16777216)"

#define GRAMMAR "INPUT/OUTPUT, each " SIDE_GRAMMAR ", or empirical:TRACE.h5[:MODEL]"

/* A whole number of tokens in [1, WL_LENGTHS_MAX_TOKENS]. */
static bool parse_count(const char *text, int32_t *out)
{
    double v;
    if (!mx_parse_f64(text, &v) || v != floor(v) || v < 1 || v > WL_LENGTHS_MAX_TOKENS)
        return false;
    *out = (int32_t)v;
    return true;
}

/* "A,B" into a and b (texts, in buf). */
static bool split_pair(const char *text, char *buf, size_t size, const char **a, const char **b)
{
    if (strlen(text) >= size)
        return false;
    strcpy(buf, text);
    char *comma = strchr(buf, ',');
    if (!comma || strchr(comma + 1, ','))
        return false;
    *comma = '\0';
    *a = buf;
    *b = comma + 1;
    return true;
}

/* One side; NULL when text is not one, with *problem saying what is wrong beyond the grammar. */
static struct wl__side *parse_side(const char *text, const char **problem)
{
    struct wl__side side = {0};
    char buf[128];
    const char *a, *b, *colon = strchr(text, ':');
    *problem = NULL;
    if (!colon) {
        side.kind = SIDE_FIXED;
        if (!parse_count(text, &side.lo))
            return NULL;
    } else if (strncmp(text, "fixed:", 6) == 0) {
        side.kind = SIDE_FIXED;
        if (!parse_count(text + 6, &side.lo))
            return NULL;
    } else if (strncmp(text, "uniform:", 8) == 0) {
        side.kind = SIDE_UNIFORM;
        if (!split_pair(text + 8, buf, sizeof(buf), &a, &b) || !parse_count(a, &side.lo) ||
            !parse_count(b, &side.hi))
            return NULL;
        if (side.lo > side.hi) {
            *problem = "uniform:LO,HI needs LO <= HI";
            return NULL;
        }
    } else if (strncmp(text, "lognormal:", 10) == 0) {
        double median;
        side.kind = SIDE_LOGNORMAL;
        if (!split_pair(text + 10, buf, sizeof(buf), &a, &b) || !mx_parse_f64(a, &median) ||
            !mx_parse_f64(b, &side.sigma))
            return NULL;
        if (!(median >= 1 && median <= WL_LENGTHS_MAX_TOKENS && side.sigma >= 0 &&
              side.sigma <= 10)) {
            *problem = "lognormal:MEDIAN,SIGMA needs MEDIAN in [1, 16777216] and SIGMA in [0, 10]";
            return NULL;
        }
        side.mu = log(median);
    } else if (strncmp(text, "zipf:", 5) == 0) {
        side.kind = SIDE_ZIPF;
        if (!split_pair(text + 5, buf, sizeof(buf), &a, &b) || !mx_parse_f64(a, &side.s) ||
            !parse_count(b, &side.hi))
            return NULL;
        if (!(side.s > 0 && side.s <= 100)) {
            *problem = "zipf:S,MAX needs S in (0, 100]";
            return NULL;
        }
        side.lo = 1;
        side.h_lo = zipf_H(side.s, 1.5) - 1;
        side.h_hi = zipf_H(side.s, side.hi + 0.5);
    } else {
        return NULL;
    }
    if (side.kind == SIDE_FIXED)
        side.hi = side.lo;
    struct wl__side *out = MX_NEW(struct wl__side);
    *out = side;
    return out;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Split "TRACE[:MODEL]": the trace's name ends in .h5, .hdf5 or .csv, and MODEL follows the first
 * ':' after such an ending. Returns the trace's length, or 0 when there is no such ending. */
static size_t trace_part(const char *text, const char **model)
{
    static const char *const suffixes[] = {".h5", ".hdf5", ".csv"};
    size_t len = strlen(text);
    *model = NULL;
    for (size_t end = 1; end <= len; end++) {
        if (end < len && text[end] != ':')
            continue;
        for (int s = 0; s < 3; s++)
            if (ends_with(text, end, suffixes[s])) {
                *model = end < len ? text + end + 1 : NULL;
                return end;
            }
    }
    return 0;
}

static int load_trace(const char *path, const char *where, struct wl_lengths_cache *cache,
                      struct wl_trace **out, bool *owned)
{
    for (size_t i = 0; cache && i < cache->n; i++)
        if (strcmp(cache->traces[i].path, path) == 0) {
            *out = cache->traces[i].trace;
            *owned = false;
            return MX_OK;
        }
    size_t len = strlen(path);
    int rc =
        ends_with(path, len, ".csv") ? wl_trace_read_csv(path, out) : wl_trace_read_h5(path, out);
    if (rc < 0) {
        /* The reader named the trace and the place in it; say which lengths wanted it. */
        char reason[1024];
        snprintf(reason, sizeof(reason), "%s", mx_error_message());
        return mx_error(rc, "%s: %s", where, reason);
    }
    *owned = !cache;
    if (cache) {
        cache->traces = mx_realloc_array(cache->traces, cache->n + 1, sizeof(struct cached_trace));
        cache->traces[cache->n++] = (struct cached_trace){mx_strdup(path), *out};
    }
    return MX_OK;
}

static int parse_empirical(const char *text, const char *where, const char *base_dir,
                           struct wl_lengths_cache *cache, struct wl_lengths **out)
{
    const char *model;
    size_t len = trace_part(text, &model);
    if (len == 0)
        return mx_error(MX_EINPUT,
                        "%s: expected empirical:TRACE[:MODEL] with TRACE ending in .h5, .hdf5 or "
                        ".csv, got \"empirical:%s\"",
                        where, text);
    char *name = mx_strfmt("%.*s", (int)len, text);
    size_t dir_len = base_dir ? strlen(base_dir) : 0;
    char *path = name[0] == '/' || dir_len == 0 ? mx_strdup(name)
                 : base_dir[dir_len - 1] == '/' ? mx_strfmt("%s%s", base_dir, name)
                                                : mx_strfmt("%s/%s", base_dir, name);
    struct wl_trace *t = NULL;
    bool owned = false;
    int rc = load_trace(path, where, cache, &t, &owned);
    int32_t m = -1;
    if (rc == MX_OK && !wl_trace_has_tokens(t))
        rc = mx_error(MX_EINPUT,
                      "%s: trace %s has no token counts (input_tokens, output_tokens), which "
                      "empirical lengths need",
                      where, path);
    if (rc == MX_OK && model) {
        for (uint32_t k = 0; k < t->n_models; k++)
            if (strcmp(t->model_names[k], model) == 0)
                m = (int32_t)k;
        if (m < 0)
            rc = mx_error(MX_EINPUT, "%s: trace %s has no model \"%s\"", where, path, model);
    }
    if (rc == MX_OK) {
        int32_t *in = mx_malloc_array(t->n, sizeof(int32_t));
        int32_t *o = mx_malloc_array(t->n, sizeof(int32_t));
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++)
            if (m < 0 || t->model[i] == m) {
                in[n] = t->input_tokens[i];
                o[n++] = t->output_tokens[i];
            }
        /* A model of the names may have no request in the trace. */
        if (n == 0)
            rc = mx_error(MX_EINPUT, "%s: trace %s has no request of model \"%s\"", where, path,
                          model);
        else
            *out = wl_lengths_empirical(n, in, o, where);
        free(in);
        free(o);
    }
    if (owned)
        wl_trace_free(t);
    free(path);
    free(name);
    return rc;
}

int wl_lengths_parse(const char *text, const char *where, const char *base_dir,
                     struct wl_lengths_cache *cache, struct wl_lengths **out)
{
    *out = NULL;
    if (strncmp(text, "empirical:", 10) == 0)
        return parse_empirical(text + 10, where, base_dir, cache, out);
    const char *slash = strchr(text, '/'), *problem = NULL;
    if (!slash || strchr(slash + 1, '/'))
        return mx_error(MX_EINPUT, "%s: expected %s, got \"%s\"", where, GRAMMAR, text);
    char *input_text = mx_strfmt("%.*s", (int)(slash - text), text);
    struct wl__side *input = parse_side(input_text, &problem), *output = NULL;
    int rc = MX_OK;
    if (!input)
        rc = mx_error(MX_EINPUT, "%s: input: %s, got \"%s\"", where,
                      problem ? problem : "expected " SIDE_GRAMMAR, input_text);
    else if (!(output = parse_side(slash + 1, &problem)))
        rc = mx_error(MX_EINPUT, "%s: output: %s, got \"%s\"", where,
                      problem ? problem : "expected " SIDE_GRAMMAR, slash + 1);
    free(input_text);
    if (rc < 0) {
        wl__side_free(input);
        return rc;
    }
    *out = wl__lengths_of_sides(input, output, where);
    return MX_OK;
}
