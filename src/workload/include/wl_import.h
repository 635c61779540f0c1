/* Importing real traces (docs/traces.md): read a trace in someone else's format, transform it, and
 * map its keys (the model, function or client column) onto a model set.
 *
 * Two kinds of sources:
 *   timestamp traces  one row per request: CSV, TSV or JSONL with a time column and an optional key
 *                     column; presets azure-llm-2023, mooncake, alibaba-genai-lora, burstgpt;
 *   rate traces       per key and window, a rate (and a CV or a fitted gap distribution): presets
 *                     azure-functions (per-minute counts) and servegen (per-client statistics);
 *                     their requests are generated per window.
 *
 * The pipeline, in this order:
 *   1. read; rows with an empty key are skipped (and counted); time must never go backwards;
 *   2. spread coarse timestamps: each request moves by U[0, spread_s) (seeded), then re-sort;
 *   3. rebase: time 0 is the first request (rate traces: the first window);
 *   4. time window [from_s, to_s) on the rebased times; then speed-up (times divided by it);
 *   5. rate traces, or refit_window_s > 0 (per key and window, fit a Gamma rate and CV to the
 *      arrivals): generate each window with rate * rate_scale and cv * cv_scale; otherwise
 *      rate_scale != 1 thins (keep with probability rate_scale) or clones (each request gets
 *      floor(rate_scale) - 1 extra copies plus one more with probability frac(rate_scale), each
 *      placed uniformly in the gap to the next request of the same key);
 *   6. keep the top_k most requested keys (ties: first appearance);
 *   7. map keys to models: identity (one model per key, named after it), round robin (keys in
 *      order of first appearance), popularity (the k-th most requested key goes to model k mod n),
 *      an explicit JSON map {"key": "model", ...}, or split: every request on its own goes to
 *      model r with probability proportional to (r + 1)^-split_alpha (stream "import/split"), which
 *      spreads one service's traffic (Azure LLM) over a power-law model set.
 * Every random choice draws from its own named stream of seed, so outputs are reproducible.
 *
 * Token counts (decoder requests, docs/traces.md): timestamp traces with input and output token
 * columns (the presets' own, or input_column and output_column) give every request its lengths,
 * which travel with it through every step: spreading, windows, thinning, and cloning (a copy has
 * its original's lengths); generation (refit) draws each request's pair from the empirical pairs of
 * its key's requests (stream "import/lengths", key); ServeGen draws them from its per-client
 * length distributions when the chunk-<i>-dataset.json files are there. A row of 0 input or 0
 * output tokens is dropped and counted (BurstGPT's failed requests). Mooncake's prefix block
 * hashes are kept with real requests only: cloning and generation drop them. */
#ifndef WL_IMPORT_H
#define WL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spec_model_set;
struct spec_profile;
struct wl_trace;

enum wl_key_map {
    WL_MAP_DEFAULT,
    WL_MAP_IDENTITY,
    WL_MAP_ROUND_ROBIN,
    WL_MAP_POPULARITY,
    WL_MAP_SPLIT
};

struct wl_import_spec {
    const char *format; /* csv, tsv, jsonl, or a preset name (wl_import_formats) */

    /* Reading timestamp traces; NULL or negative: the format's default. */
    const char *time_column; /* default "arrival_s" (csv, tsv), "timestamp" (jsonl) */
    const char *time_unit;   /* s, ms, us, ns, min, h, or datetime; default s */
    const char *time_format; /* datetime only: "iso8601" (default) or a strptime(3) format, both
                                optionally followed by fractional seconds */
    const char *key_column;  /* default none: every request has one key named after the file */
    double spread_s;         /* < 0: the format's default (mooncake 3 s, 1 s resolution: 1 s) */
    const char *input_column, *output_column; /* token counts; default: the format's, or none */
    bool no_tokens; /* read no token counts (nor hashes, nor ServeGen's lengths) */

    /* Reading rate traces. */
    double count_window_s; /* azure-functions: seconds per count column; <= 0: 60 */

    /* Transforms (seconds on the rebased clock). */
    double from_s, to_s; /* to_s <= 0: to the end */
    double speed_up;     /* > 0 */
    double rate_scale;   /* > 0 */
    double cv_scale;     /* > 0; only with generation (rate traces, refit) */
    double refit_window_s;

    /* Mapping. n_models = 0 and no set: one model per key (identity). */
    enum wl_key_map map;
    double split_alpha;               /* WL_MAP_SPLIT: the power law's exponent (0: equal) */
    const char *map_path;             /* explicit map, JSON object {"key": "model"}; or NULL */
    uint32_t top_k;                   /* 0: all keys */
    uint32_t n_models;                /* models m0 .. m{n-1}; 0 with no set: identity */
    const struct spec_model_set *set; /* resolved; gives the names and SLOs; or NULL */
    const struct spec_profile *db;    /* with set, or NULL: tells decoders apart */
    double slo_s;                     /* every request's SLO when there is no set */
    uint64_t seed;
};

/* What an import did, for the command's summary line. */
struct wl_import_report {
    size_t rows;            /* requests read (timestamp) or windows read (rate) */
    size_t skipped_rows;    /* rows without a key */
    uint32_t keys;          /* distinct keys read */
    uint32_t kept_keys;     /* keys left after the window and top_k */
    size_t zero_token_rows; /* rows of 0 input or 0 output tokens, dropped */
    size_t clipped_rows;    /* requests longer than their decoder's context, prompt cut to fit */
};

/* The formats wl_import() reads, NULL-terminated, for help texts. */
extern const char *const wl_import_formats[];

/* Defaults for every field: no spread override (-1), speed-up, rate and CV scale 1. */
struct wl_import_spec wl_import_spec_default(void);

/* Import path (a file; for servegen, a folder of chunk-<i>-trace.csv files or one such file). Bad
 * input is MX_EINPUT naming the file and the line (and column) at fault; so is a request mapped to
 * a decoder model (wl_model_is_decoder) when the source has no token counts. A spec that does not
 * fit the format is MX_EUSAGE. The trace starts at 0; it has token counts when the source has;
 * requests take their model's SLOs from the set (the TTFT and TPOT ones too), else slo_s. The
 * caller frees *out with wl_trace_free(). */
int wl_import(const char *path, const struct wl_import_spec *spec, struct wl_trace **out,
              struct wl_import_report *report);

/* AlpaServe's windowed refit of a muxplan trace: per model and window of window_s seconds, fit a
 * Gamma rate and CV to t's arrivals and regenerate with rate x rate_scale and CV x cv_scale (each
 * model from stream "import/arrivals" of seed, by model index). Model names and the window are
 * kept; a request gets the SLOs of its model's first request in t. When t has token counts, each
 * request draws its (input, output) pair from the pairs of its model's requests in t, uniformly
 * (stream "import/lengths" of seed, by model index); block hashes are not kept. The caller frees
 * *out; MX_EINPUT when the result would hold no request or too many. */
int wl_trace_refit(const struct wl_trace *t, double window_s, double rate_scale, double cv_scale,
                   uint64_t seed, struct wl_trace **out);

#endif
