/* Private to the importer: the two shapes a source reads into, and the steps of the pipeline. */
#ifndef WL_IMPORT_INT_H
#define WL_IMPORT_INT_H

#include "mx_strmap.h"
#include "wl_import.h"
#include "wl_lengths.h"

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

/* A request's token counts and its prompt's block hashes, when the source has them. */
struct wl_request_tokens {
    int32_t input, output; /* >= 1 each */
    uint32_t n_hashes;     /* its block hashes: hashes[first_hash .. first_hash + n_hashes) */
    uint64_t first_hash;
};

/* Requests of a timestamp trace: seconds since the first row, non-decreasing after every step. */
struct wl_arrivals {
    size_t n, cap;
    double *time_s;                   /* [n] */
    uint32_t *key;                    /* [n], index into keys */
    bool has_tokens;                  /* set before the first push */
    struct wl_request_tokens *tokens; /* [n] when has_tokens */
    /* Prefix block hashes (Mooncake's hash_ids): a pool the requests point into, so that moving
     * requests around moves no hash. Only real requests have them: a step that makes requests up
     * (cloning, generation) drops them all. */
    bool has_hashes;
    int32_t hash_block_tokens; /* tokens per hashed block */
    size_t n_hashes, hashes_cap;
    int64_t *hashes; /* [n_hashes] */
    struct wl_keys keys;
    double end_s; /* the end of the covered window (the last request unless a window said) */
};

void wl__arrivals_init(struct wl_arrivals *a);
void wl__arrivals_release(struct wl_arrivals *a);
/* Push a request; tokens is read when a->has_tokens (then it must be given). */
void wl__arrivals_push(struct wl_arrivals *a, double time_s, uint32_t key,
                       const struct wl_request_tokens *tokens);
/* Append n hashes to the pool; returns the index of the first. */
uint64_t wl__arrivals_add_hashes(struct wl_arrivals *a, const int64_t *hashes, size_t n);
/* Forget every block hash (for steps that make requests up). */
void wl__arrivals_drop_hashes(struct wl_arrivals *a);
/* Move request from into slot to (to <= from), every field. Inline: the window and thinning loops
 * call it for every request. */
static inline void wl__arrivals_move(struct wl_arrivals *a, size_t to, size_t from)
{
    a->time_s[to] = a->time_s[from];
    a->key[to] = a->key[from];
    if (a->has_tokens)
        a->tokens[to] = a->tokens[from];
}
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
    uint32_t lengths_id; /* its requests draw lengths[lengths_id - 1] of the windows; 0: none */
};

struct wl_windows {
    size_t n, cap;
    struct wl_window *w; /* [n] */
    struct wl_keys keys;
    double end_s;                /* the end of the last window */
    size_t n_lengths;            /* > 0: generated requests have token counts */
    struct wl_lengths **lengths; /* [n_lengths], owned */
};

void wl__windows_init(struct wl_windows *w);
void wl__windows_release(struct wl_windows *w);
void wl__windows_push(struct wl_windows *w, const struct wl_window *window);
/* Add lengths (owned from now on); returns its lengths_id (index + 1). */
uint32_t wl__windows_add_lengths(struct wl_windows *w, struct wl_lengths *lengths);

/* A reader's result: exactly one of the two is used. */
struct wl_source {
    bool is_rate;
    struct wl_arrivals arrivals;
    struct wl_windows windows;
    size_t rows, skipped_rows;
    size_t zero_token_rows; /* rows of 0 input or 0 output tokens, dropped */
};

/* The token columns of a timestamp source (NULL: none): the format's, or the spec's. */
struct wl_token_columns {
    const char *input, *output;
    const char *hashes;        /* JSONL: an array of block hashes, or NULL */
    int32_t hash_block_tokens; /* tokens per hashed block */
};

/* The key of a file without a key column: its name without folder and extension. Caller frees. */
char *wl__file_key(const char *path);

/* Readers. spec fields the format does not support are MX_EUSAGE; bad rows MX_EINPUT. columns
 * names the token columns to read (timestamp readers), all NULL for none. */
int wl__read_text(const char *path, const struct wl_import_spec *spec,
                  const struct wl_token_columns *columns, char sep, struct wl_source *out);
int wl__read_jsonl(const char *path, const struct wl_import_spec *spec,
                   const struct wl_token_columns *columns, struct wl_source *out);
int wl__read_counts(const char *path, const struct wl_import_spec *spec,
                    const struct wl_token_columns *columns, struct wl_source *out);
int wl__read_servegen(const char *path, const struct wl_import_spec *spec,
                      const struct wl_token_columns *columns, struct wl_source *out);

/* ServeGen's length distributions (wl_read_servegen_lengths.c): the chunk-<i>-dataset.json beside
 * trace file trace_path, when it exists; gives every window of key (windows first .. w->n - 1,
 * source times) the distribution covering its start. *found says whether the file was there. */
int wl__read_servegen_lengths(const char *trace_path, uint32_t key, size_t first,
                              struct wl_windows *w, bool *found);

/* Checks one token field of a row: a whole number from 0 to WL_LENGTHS_MAX_TOKENS into *out. */
bool wl__parse_token_count(const char *text, int32_t *out);

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

/* The reader-side checks shared by every timestamp reader: the key, then the time, then the tokens
 * of one row (NULL without), whose input plus output must be at most WL_LENGTHS_MAX_TOKENS; a row
 * of 0 input or output tokens is counted and dropped. Returns MX_OK, or MX_EINPUT naming path:line
 * and column. */
int wl__accept_row(struct wl_source *src, const char *path, size_t line, const char *time_column,
                   double time_s, const char *key, const struct wl_request_tokens *tokens,
                   const struct wl_token_columns *columns);

/* Pipeline steps (wl_transform.c). */
void wl__arrivals_spread(struct wl_arrivals *a, double spread_s, uint64_t seed);
void wl__arrivals_window(struct wl_arrivals *a, double from_s, double to_s, double speed_up);
void wl__windows_clip(struct wl_windows *w, double from_s, double to_s, double speed_up);
void wl__arrivals_rescale(struct wl_arrivals *a, double rate_scale, uint64_t seed);

/* Generation and fitting (wl_windows.c). */
/* Fit a Gamma (rate, CV) per key and window of window_s over [0, a->end_s); with token counts,
 * every window of a key draws from the empirical (input, output) pairs of the key's requests. */
void wl__windows_fit(const struct wl_arrivals *a, double window_s, struct wl_windows *out);
/* Generate every window's requests: arrivals from stream ("import/arrivals", key) and, when w has
 * lengths, each request's lengths from stream ("import/lengths", key), window by window. MX_EINPUT
 * when more than WL_IMPORT_MAX_REQUESTS are expected or lengths fit too rarely. */
int wl__windows_generate(const struct wl_windows *w, double rate_scale, double cv_scale,
                         uint64_t seed, const char *path, struct wl_arrivals *out);

/* Keep the top_k keys and map keys to models (wl_map.c); builds the trace. */
int wl__map_to_trace(struct wl_arrivals *a, const struct wl_import_spec *spec, const char *path,
                     struct wl_trace **out, struct wl_import_report *report);

#endif
