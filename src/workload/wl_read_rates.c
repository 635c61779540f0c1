/* Rate traces: per key and window, how much traffic there was, from which requests are generated.
 *   azure-functions  Azure Functions 2019 invocation counts: HashOwner, HashApp, HashFunction,
 *                    Trigger, then one column per minute named 1, 2, ...; a count column k covers
 *                    [(k - 1) w, k w) with w = count_window_s; CV 1 (Poisson), scaled by cv_scale.
 *   servegen         ServeGen per-client statistics: files chunk-<i>-trace.csv without a header,
 *                    rows window_start_s,rate,cv,dist,shape,scale; dist Gamma or Weibull (scipy's
 *                    parameters) or empty when the client was idle. The chunk-<i>-dataset.json
 *                    beside each, when there, gives its length distributions
 *                    (wl_read_servegen_lengths.c): every client has one, or none has. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Rates above this (requests/s for one key) are taken for a broken file. */
#define MAX_KEY_RATE 1e6

static bool positive_integer(const char *s, long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    *out = strtol(s, &end, 10);
    return !*end && errno == 0 && *out > 0;
}

int wl__read_counts(const char *path, const struct wl_import_spec *spec,
                    const struct wl_token_columns *columns, struct wl_source *out)
{
    (void)columns; /* invocation counts say nothing of lengths */
    const char *key_column = spec->key_column ? spec->key_column : "HashFunction";
    double window_s = spec->count_window_s > 0 ? spec->count_window_s : 60;
    struct mx_csv csv;
    long *minute = NULL;
    int key_at, rc;
    out->is_rate = true;
    if ((rc = mx_csv_open(path, ',', &csv)) < 0)
        return rc;
    if ((rc = mx_csv_header(&csv)) < 0)
        goto done;
    if ((key_at = mx_csv_column(&csv, key_column)) < 0) {
        rc = mx_error(MX_EINPUT, "%s:%zu: the header has no key column \"%s\"", path, csv.line,
                      key_column);
        goto done;
    }
    /* minute[f] > 0 for the count columns, named 1, 2, ... */
    size_t n_columns = csv.n_fields, n_counts = 0;
    minute = MX_NEW_ARRAY(long, n_columns);
    for (size_t f = 0; f < n_columns; f++)
        if (positive_integer(csv.fields[f], &minute[f]))
            n_counts++;
    if (n_counts == 0) {
        rc = mx_error(MX_EINPUT, "%s:%zu: the header has no count columns (named 1, 2, ...)", path,
                      csv.line);
        goto done;
    }
    while ((rc = mx_csv_next(&csv)) > 0) {
        if (csv.n_fields != n_columns) {
            rc = mx_error(MX_EINPUT, "%s:%zu: the row has %zu fields, the header %zu", path,
                          csv.line, csv.n_fields, n_columns);
            goto done;
        }
        out->rows++;
        if (!csv.fields[key_at][0]) {
            out->skipped_rows++;
            continue;
        }
        uint32_t key = wl__keys_intern(&out->windows.keys, csv.fields[key_at]);
        for (size_t f = 0; f < n_columns; f++) {
            double count;
            if (minute[f] == 0)
                continue;
            if (!mx_parse_f64(csv.fields[f], &count) || count < 0 ||
                count > MAX_KEY_RATE * window_s || count != (double)(long long)count) {
                rc = mx_error(MX_EINPUT, "%s:%zu: count column %ld: \"%s\" is not a count", path,
                              csv.line, minute[f], csv.fields[f]);
                goto done;
            }
            if (count > 0)
                wl__windows_push(&out->windows,
                                 &(struct wl_window){.key = key,
                                                     .start_s = (double)(minute[f] - 1) * window_s,
                                                     .length_s = window_s,
                                                     .rate = count / window_s,
                                                     .cv = 1,
                                                     .dist = WL_GAPS_GAMMA_CV});
        }
    }
    if (rc == 0 && out->windows.keys.n == 0)
        rc = mx_error(MX_EINPUT, "%s: no functions", path);
    if (rc == 0)
        out->windows.end_s = (double)n_counts * window_s;
done:
    free(minute);
    mx_csv_close(&csv);
    return rc;
}

/* One ServeGen row into a window of key; the length is filled in by the caller. */
static int servegen_row(const struct mx_csv *csv, uint32_t key, struct wl_window *w)
{
    double v[3];
    if (csv->n_fields != 6)
        return mx_error(MX_EINPUT,
                        "%s:%zu: expected 6 fields (window_start_s,rate,cv,dist,shape,scale), "
                        "got %zu",
                        csv->path, csv->line, csv->n_fields);
    static const char *const names[3] = {"window_start_s", "rate", "cv"};
    for (int f = 0; f < 3; f++)
        if (!mx_parse_f64(csv->fields[f], &v[f]) || v[f] < 0)
            return mx_error(MX_EINPUT, "%s:%zu: %s: \"%s\" is not a non-negative number", csv->path,
                            csv->line, names[f], csv->fields[f]);
    if (v[1] > MAX_KEY_RATE)
        return mx_error(MX_EINPUT, "%s:%zu: rate: %g requests/s is absurd", csv->path, csv->line,
                        v[1]);
    *w = (struct wl_window){.key = key, .start_s = v[0], .rate = v[1], .cv = v[2] > 0 ? v[2] : 1};
    const char *dist = csv->fields[3];
    if (!dist[0] || v[1] == 0) {
        w->rate = 0;
        w->dist = WL_GAPS_GAMMA_CV;
        return MX_OK;
    }
    if (strcmp(dist, "Gamma") == 0)
        w->dist = WL_GAPS_GAMMA_FIT;
    else if (strcmp(dist, "Weibull") == 0)
        w->dist = WL_GAPS_WEIBULL_FIT;
    else
        return mx_error(MX_EINPUT, "%s:%zu: dist: expected Gamma, Weibull or nothing, got \"%s\"",
                        csv->path, csv->line, dist);
    if (!mx_parse_f64(csv->fields[4], &w->shape) || !mx_parse_f64(csv->fields[5], &w->scale) ||
        w->shape <= 0 || w->scale <= 0)
        return mx_error(MX_EINPUT, "%s:%zu: shape and scale must be positive numbers", csv->path,
                        csv->line);
    return MX_OK;
}

/* Whether clients had length distributions: every one, or none. */
struct lengths_presence {
    bool with_tokens; /* look for them at all */
    size_t found, missing;
    char *first_found, *first_missing; /* trace files, for the message */
};

static int read_servegen_file(const char *path, const char *key_name, struct wl_source *out,
                              struct lengths_presence *presence)
{
    struct mx_csv csv;
    size_t first = out->windows.n;
    int rc = mx_csv_open(path, ',', &csv);
    if (rc < 0)
        return rc;
    uint32_t key = wl__keys_intern(&out->windows.keys, key_name);
    while ((rc = mx_csv_next(&csv)) > 0) {
        struct wl_window w;
        if ((rc = servegen_row(&csv, key, &w)) < 0)
            break;
        out->rows++;
        size_t n = out->windows.n;
        if (n > first) {
            struct wl_window *previous = &out->windows.w[n - 1];
            if (w.start_s <= previous->start_s) {
                rc = mx_error(MX_EINPUT, "%s:%zu: window_start_s: time goes backwards", path,
                              csv.line);
                break;
            }
            previous->length_s = w.start_s - previous->start_s;
            w.length_s = previous->length_s;
        } else {
            w.length_s = 600; /* ServeGen's window, for a file of one row */
        }
        wl__windows_push(&out->windows, &w);
    }
    if (rc == 0 && out->windows.n == first)
        rc = mx_error(MX_EINPUT, "%s: empty file", path);
    mx_csv_close(&csv);
    bool found = false;
    if (rc == 0 && presence->with_tokens)
        rc = wl__read_servegen_lengths(path, key, first, &out->windows, &found);
    if (rc == 0 && presence->with_tokens) {
        char **name = found ? &presence->first_found : &presence->first_missing;
        if (!*name)
            *name = mx_strdup(path);
        *(found ? &presence->found : &presence->missing) += 1;
    }
    return rc;
}

/* Every client has its length distributions, or none has: a partial set would leave some
 * requests without lengths. */
static int check_presence(struct lengths_presence *p)
{
    int rc = MX_OK;
    if (p->found && p->missing) {
        /* Name the file that is missing: the trace file's name says where it would be. */
        char *dot = strstr(p->first_missing, "-trace.csv");
        char *missing =
            dot ? mx_strfmt("%.*s-dataset.json", (int)(dot - p->first_missing), p->first_missing)
                : mx_strdup(p->first_missing);
        rc = mx_error(MX_EINPUT,
                      "%s: missing, while %zu other clients have their length distributions "
                      "(the first: beside %s): every client needs one, or none",
                      missing, p->found, p->first_found);
        free(missing);
    }
    free(p->first_found);
    free(p->first_missing);
    return rc;
}

/* The client number of a file named chunk-<i>-trace.csv, or -1. */
static long chunk_number(const char *name)
{
    long i;
    char tail[16];
    if (sscanf(name, "chunk-%ld%15s", &i, tail) != 2 || strcmp(tail, "-trace.csv") != 0 || i < 0)
        return -1;
    return i;
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int wl__read_servegen(const char *path, const struct wl_import_spec *spec,
                      const struct wl_token_columns *columns, struct wl_source *out)
{
    struct stat st;
    struct lengths_presence presence = {.with_tokens = !spec->no_tokens};
    (void)columns;
    out->is_rate = true;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        /* One client: client-<i> as in a folder, or the file's own name. */
        const char *slash = strrchr(path, '/');
        long i = chunk_number(slash ? slash + 1 : path);
        char *key = i >= 0 ? mx_strfmt("client-%ld", i) : wl__file_key(path);
        int rc = read_servegen_file(path, key, out, &presence);
        free(key);
        int presence_rc = check_presence(&presence);
        return rc < 0 ? rc : presence_rc;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return mx_error(MX_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    long *chunks = NULL;
    size_t n = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        long i = chunk_number(entry->d_name);
        if (i < 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            chunks = mx_realloc_array(chunks, cap, sizeof(long));
        }
        chunks[n++] = i;
    }
    closedir(dir);
    /* Files in client order, whatever order the directory lists them in. */
    qsort(chunks, n, sizeof(long), compare_long);
    int rc = n ? MX_OK : mx_error(MX_EINPUT, "%s: no chunk-<i>-trace.csv files", path);
    for (size_t c = 0; rc == MX_OK && c < n; c++) {
        char *file = mx_strfmt("%s/chunk-%ld-trace.csv", path, chunks[c]);
        char key[32];
        snprintf(key, sizeof(key), "client-%ld", chunks[c]);
        rc = read_servegen_file(file, key, out, &presence);
        free(file);
    }
    free(chunks);
    int presence_rc = check_presence(&presence);
    return rc < 0 ? rc : presence_rc;
}
