/* Private to the importer: the two shapes a source reads into, and the steps of the pipeline. */
#ifndef WL_IMPORT_INT_H
#define WL_IMPORT_INT_H

#include "mx_strmap.h"
#include "wl_import.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most requests an import may produce (20 bytes each in the trace). */
#define WL_IMPORT_MAX_REQUESTS 200000000.0

/* Distinct keys in order of first appearance. */
struct wl_keys {
    uint32_t n, cap;
    char **names; /* [n], owned */
    struct mx_strmap index;
};

void wl__keys_init(struct wl_keys *k);
void wl__keys_release(struct wl_keys *k);
/* The index of name, added when new. */
uint32_t wl__keys_intern(struct wl_keys *k, const char *name);

/* Requests of a timestamp trace: seconds since the first row, non-decreasing after every step. */
struct wl_arrivals {
    size_t n, cap;
    double *time_s; /* [n] */
    uint32_t *key;  /* [n], index into keys */
    struct wl_keys keys;
    double end_s; /* the end of the covered window (the last request unless a window said) */
};

void wl__arrivals_init(struct wl_arrivals *a);
void wl__arrivals_release(struct wl_arrivals *a);
void wl__arrivals_push(struct wl_arrivals *a, double time_s, uint32_t key);
/* Sort by (time, key), stable. */
void wl__arrivals_sort(struct wl_arrivals *a);

/* The gap distribution a window draws from. */
enum wl_gap_dist { WL_GAPS_GAMMA_CV, WL_GAPS_GAMMA_FIT, WL_GAPS_WEIBULL_FIT };

/* One key's traffic over one window of a rate trace. */
struct wl_window {
    uint32_t key;
    double start_s, length_s;
    double rate; /* requests/s */
    double cv;   /* of gaps (WL_GAPS_GAMMA_CV) */
    enum wl_gap_dist dist;
    double shape, scale; /* fitted distributions (scipy's a/c and scale); gaps are rescaled so that
                            their mean is 1 / rate */
};

struct wl_windows {
    size_t n, cap;
    struct wl_window *w; /* [n] */
    struct wl_keys keys;
    double end_s; /* the end of the last window */
};

void wl__windows_init(struct wl_windows *w);
void wl__windows_release(struct wl_windows *w);
void wl__windows_push(struct wl_windows *w, const struct wl_window *window);

/* A reader's result: exactly one of the two is used. */
struct wl_source {
    bool is_rate;
    struct wl_arrivals arrivals;
    struct wl_windows windows;
    size_t rows, skipped_rows;
};

/* The key of a file without a key column: its name without folder and extension. Caller frees. */
char *wl__file_key(const char *path);

/* Readers. spec fields the format does not support are MX_EUSAGE; bad rows MX_EINPUT. */
int wl__read_text(const char *path, const struct wl_import_spec *spec, char sep,
                  struct wl_source *out);
int wl__read_jsonl(const char *path, const struct wl_import_spec *spec, struct wl_source *out);
int wl__read_counts(const char *path, const struct wl_import_spec *spec, struct wl_source *out);
int wl__read_servegen(const char *path, const struct wl_import_spec *spec, struct wl_source *out);

/* Turning one time field into seconds relative to the first row: a parsed time is whole seconds
 * plus a fraction, so that epoch timestamps keep sub-microsecond precision. */
struct wl_time_parser {
    double unit_s;      /* numbers: seconds per unit; 0 for datetimes */
    const char *format; /* datetimes: NULL for ISO 8601, else a strptime(3) format */
    bool have_origin;
    int64_t origin_whole_s;
    double origin_value; /* numbers: the first value, in units */
};

/* Set up from a unit name and a datetime format; MX_EUSAGE for an unknown unit. */
int wl__time_parser_init(struct wl_time_parser *p, const char *unit, const char *format);
/* Parse text; false when it is not a time of the parser's kind. */
bool wl__time_parse(struct wl_time_parser *p, const char *text, double *out_s);
/* Same for a number already parsed (JSON). */
double wl__time_from_number(struct wl_time_parser *p, double value);

/* The reader-side checks shared by every timestamp reader: the key, then the time, of one row.
 * Returns MX_OK, or MX_EINPUT naming path:line and column. */
int wl__accept_row(struct wl_source *src, const char *path, size_t line, const char *time_column,
                   double time_s, const char *key);

/* Pipeline steps (wl_transform.c). */
void wl__arrivals_spread(struct wl_arrivals *a, double spread_s, uint64_t seed);
void wl__arrivals_window(struct wl_arrivals *a, double from_s, double to_s, double speed_up);
void wl__windows_clip(struct wl_windows *w, double from_s, double to_s, double speed_up);
void wl__arrivals_rescale(struct wl_arrivals *a, double rate_scale, uint64_t seed);

/* Generation and fitting (wl_windows.c). */
/* Fit a Gamma (rate, CV) per key and window of window_s over [0, a->end_s). */
void wl__windows_fit(const struct wl_arrivals *a, double window_s, struct wl_windows *out);
/* Generate every window's requests; MX_EINPUT when more than WL_IMPORT_MAX_REQUESTS are expected.
 */
int wl__windows_generate(const struct wl_windows *w, double rate_scale, double cv_scale,
                         uint64_t seed, const char *path, struct wl_arrivals *out);

/* Keep the top_k keys and map keys to models (wl_map.c); builds the trace. */
int wl__map_to_trace(struct wl_arrivals *a, const struct wl_import_spec *spec, const char *path,
                     struct wl_trace **out, struct wl_import_report *report);

#endif
