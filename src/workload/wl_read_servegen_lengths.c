/* ServeGen's per-client length distributions: chunk-<i>-dataset.json beside chunk-<i>-trace.csv.
 *
 * The file is a JSON object keyed by window start (seconds, as text: "0", "21600", ...); each value
 * is an object of fields whose values are Python dict literals in strings, a probability table
 * "{TOKENS: P, ...}" ("{}" when the client sent nothing then). Language and reasoning models give
 * input_tokens and output_tokens (reasoning adds reason_ratio, the reasoning share of the output,
 * which we do not need); multimodal ones give text_tokens, image_tokens, image_count, audio_tokens,
 * audio_count, video_tokens, video_count and output_tokens, and a prompt is its text plus
 * image_count images of image_tokens each (and so for audio and video), each drawn on its own.
 *
 * As ServeGen's own loader does, a window whose tables are not all filled is skipped, and a rate
 * window takes the distribution of the latest window starting at or before it. The tables are
 * marginals: we draw input and output independently. (ServeGen's sampler feeds one uniform number
 * to every field's inverse CDF, which ties input and output quantile to quantile; the data say
 * nothing of their joint distribution, so we assume none.) */
#include "wl_import_int.h"
#include "wl_lengths_int.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields a window's tables come in: input alone, or text plus repeated media. */
static const char *const media[3][2] = {{"image_count", "image_tokens"},
                                        {"audio_count", "audio_tokens"},
                                        {"video_count", "video_tokens"}};

/* One window of the file: its start and, when all its tables are filled, its lengths. */
struct dataset_window {
    double start_s;
    bool filled;                /* false for a skipped window */
    const char *problem;        /* why a filled window gives no request (all of a side is 0) */
    struct wl_lengths *lengths; /* until added to the windows; NULL with a problem */
    uint32_t id;                /* lengths_id once added to the windows */
};

/* A table's text "{K: P, ...}" into values and weights (fresh arrays, *n entries; 0 for "{}").
 * NULL when well formed, else what is wrong. */
static const char *parse_table(const char *text, int32_t **values, double **weights, size_t *n)
{
    size_t cap = 0;
    const char *p = text;
    *values = NULL;
    *weights = NULL;
    *n = 0;
    while (isspace((unsigned char)*p))
        p++;
    if (*p++ != '{')
        return "expected a table {TOKENS: PROBABILITY, ...}";
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '}')
        return p[1] ? "text after the table" : NULL;
    for (;;) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return "expected a whole number of tokens";
        long long key = strtoll(p, &end, 10);
        if (key > WL_LENGTHS_MAX_TOKENS)
            return "a token count over 16777216";
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p++ != ':')
            return "expected ':' after a token count";
        while (isspace((unsigned char)*p))
            p++;
        /* Decimal notation only: digits, a point, an exponent. */
        size_t len = strspn(p, "0123456789.eE+-");
        char number[64];
        double weight;
        if (len == 0 || len >= sizeof(number))
            return "expected a probability";
        memcpy(number, p, len);
        number[len] = '\0';
        weight = strtod(number, &end);
        if (*end || !(weight >= 0 && weight <= 1))
            return "expected a probability";
        p += len;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *values = mx_realloc_array(*values, cap, sizeof(int32_t));
            *weights = mx_realloc_array(*weights, cap, sizeof(double));
        }
        (*values)[*n] = (int32_t)key;
        (*weights)[(*n)++] = weight;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '}')
            return p[1] ? "text after the table" : NULL;
        if (*p++ != ',')
            return "expected ',' or '}'";
        while (isspace((unsigned char)*p))
            p++;
    }
}

/* The side of one field of a window: NULL with *empty when its table is "{}", MX_EINPUT naming
 * the file, window and field when it is malformed or has no positive probability. */
static int read_side(const struct mx_jpath *at, json_t *fields, const char *field, bool *empty,
                     struct wl__side **out)
{
    struct mx_jpath at_field = mx_jpath_key(at, field);
    json_t *value = json_object_get(fields, field);
    const char *text;
    int32_t *values;
    double *weights;
    size_t n;
    int rc;
    *out = NULL;
    if (!value)
        return mx_jpath_error(at, "no field \"%s\"", field);
    if ((rc = mx_json_to_str(&at_field, value, &text)) < 0)
        return rc;
    const char *problem = parse_table(text, &values, &weights, &n);
    if (problem) {
        free(values);
        free(weights);
        return mx_jpath_error(&at_field, "%s", problem);
    }
    *empty = *empty || n == 0;
    if (n > 0 && !(*out = wl__side_table(values, weights, n)))
        rc = mx_jpath_error(&at_field, "no token count has a positive probability");
    free(values);
    free(weights);
    return rc;
}

/* One window's lengths into *out (NULL when one of its tables is empty, or with *problem when a
 * side cannot reach 1 token: only an error when requests need it). */
static int read_window(const struct mx_jpath *at, json_t *fields, const char *where,
                       struct wl_lengths **out, const char **problem)
{
    struct wl__side *input = NULL, *output = NULL, *count = NULL, *each = NULL;
    bool empty = false, multimodal = json_object_get(fields, "input_tokens") == NULL;
    int rc;
    *out = NULL;
    if ((rc = mx_json_expect_object(at, fields)) < 0 ||
        (rc = read_side(at, fields, multimodal ? "text_tokens" : "input_tokens", &empty, &input)) <
            0 ||
        (rc = read_side(at, fields, "output_tokens", &empty, &output)) < 0)
        goto fail;
    for (int k = 0; multimodal && k < 3; k++) {
        if (!json_object_get(fields, media[k][0]) && !json_object_get(fields, media[k][1]))
            continue;
        if ((rc = read_side(at, fields, media[k][0], &empty, &count)) < 0 ||
            (rc = read_side(at, fields, media[k][1], &empty, &each)) < 0)
            goto fail;
        if (input && count && each)
            wl__side_add_repeated(input, count, each);
        else {
            wl__side_free(count);
            wl__side_free(each);
        }
        count = each = NULL;
    }
    if (empty)
        goto fail; /* rc is MX_OK: a skipped window */
    *problem = wl__side_max(input) < 1    ? "no prompt of at least 1 token"
               : wl__side_max(output) < 1 ? "no output of at least 1 token"
                                          : NULL;
    if (*problem) {
        *out = NULL;
        goto fail;
    }
    *out = wl__lengths_of_sides(input, output, where);
    return MX_OK;
fail:
    wl__side_free(input);
    wl__side_free(output);
    wl__side_free(count);
    wl__side_free(each);
    return rc;
}

static int compare_windows(const void *pa, const void *pb)
{
    const struct dataset_window *a = pa, *b = pb;
    return (a->start_s > b->start_s) - (a->start_s < b->start_s);
}

static int read_dataset(const char *path, struct dataset_window **out, size_t *n_out)
{
    json_t *root = NULL, *fields;
    const char *key;
    struct mx_jpath at = mx_jpath_root(path);
    int rc = mx_json_load(path, &root);
    size_t n = 0;
    struct dataset_window *windows = NULL;
    if (rc == MX_OK)
        rc = mx_json_expect_object(&at, root);
    if (rc == MX_OK) {
        windows = MX_NEW_ARRAY(struct dataset_window, json_object_size(root) + 1);
        json_object_foreach(root, key, fields)
        {
            struct mx_jpath at_window = mx_jpath_key(&at, key);
            double start;
            char *end;
            start = isdigit((unsigned char)key[0]) ? strtod(key, &end) : -1;
            if (start < 0 || *end || start != floor(start)) {
                rc = mx_jpath_error(&at_window, "expected a window start in whole seconds");
                break;
            }
            char where[512];
            snprintf(where, sizeof(where), "%s: window %s", path, key);
            windows[n].start_s = start;
            if ((rc = read_window(&at_window, fields, where, &windows[n].lengths,
                                  &windows[n].problem)) < 0)
                break;
            windows[n].filled = windows[n].lengths || windows[n].problem;
            n++;
        }
    }
    json_decref(root);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            wl_lengths_free(windows[i].lengths);
        free(windows);
        return rc;
    }
    qsort(windows, n, sizeof(*windows), compare_windows);
    *out = windows;
    *n_out = n;
    return MX_OK;
}

int wl__read_servegen_lengths(const char *trace_path, uint32_t key, size_t first,
                              struct wl_windows *w, bool *found)
{
    static const char suffix[] = "-trace.csv";
    size_t len = strlen(trace_path), slen = sizeof(suffix) - 1;
    *found = false;
    if (len < slen || strcmp(trace_path + len - slen, suffix) != 0)
        return MX_OK;
    char *path = mx_strfmt("%.*s-dataset.json", (int)(len - slen), trace_path);
    if (access(path, F_OK) != 0) {
        free(path);
        return MX_OK;
    }
    *found = true;
    struct dataset_window *windows = NULL;
    size_t n = 0;
    int rc = read_dataset(path, &windows, &n);
    for (size_t j = first; rc == MX_OK && j < w->n; j++) {
        struct wl_window *window = &w->w[j];
        if (window->rate <= 0 || window->key != key)
            continue;
        /* The latest filled window starting at or before this one. */
        struct dataset_window *cover = NULL;
        for (size_t k = 0; k < n && windows[k].start_s <= window->start_s; k++)
            if (windows[k].filled)
                cover = &windows[k];
        if (!cover) {
            rc = mx_error(MX_EINPUT,
                          "%s: no length distribution starts at or before window_start_s %.15g "
                          "of %s, which has traffic",
                          path, window->start_s, trace_path);
            break;
        }
        if (cover->problem) {
            rc = mx_error(MX_EINPUT, "%s: %.15g: %s, for window_start_s %.15g of %s", path,
                          cover->start_s, cover->problem, window->start_s, trace_path);
            break;
        }
        if (cover->id == 0) {
            cover->id = wl__windows_add_lengths(w, cover->lengths);
            cover->lengths = NULL; /* owned by the windows now */
        }
        window->lengths_id = cover->id;
    }
    for (size_t k = 0; k < n; k++)
        wl_lengths_free(windows[k].lengths);
    free(windows);
    free(path);
    return rc;
}
