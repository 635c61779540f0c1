/* The model set: the served model instances, each with a base architecture and an SLO.
 *
 * JSON form ("muxplan-models/1"):
 *   {"format": "muxplan-models/1", "models": [
 *      {"name": "m0", "base": "bert-1.3b", "slo_s": 0.5, "rate": 2.0, "cv": 4},
 *      {"name": "m1", "base": "bert-1.3b", "slo_scale": 5}]}
 * Each model gives exactly one of slo_s (seconds) and slo_scale (a multiple of the base model's
 * single-device latency, resolved against a profile DB); rate (requests/s) and cv are optional. */
#ifndef WL_MODELS_H
#define WL_MODELS_H

#include <stdint.h>

struct prof_db;
struct wl_trace;

struct wl_model {
    char *name;       /* unique in the set */
    char *base;       /* base architecture, a model of the profile DB */
    double slo_s;     /* SLO in seconds; 0 until resolved when given as slo_scale */
    double slo_scale; /* the multiple given, or 0 when slo_s was given */
    double rate;      /* requests per second, or -1 when not given */
    double cv;        /* CV of inter-arrival gaps, or -1 when not given */
};

struct wl_model_set {
    char *path; /* the file it was read from, for messages */
    uint32_t n;
    struct wl_model *models; /* [n] */
};

/* Read a model set. Errors (MX_EINPUT) name the file and the member. Free with wl_models_free(). */
int wl_models_read(const char *path, struct wl_model_set **out);

/* Check every base against db and turn slo_scale into seconds. db_path names the profile in
 * messages. A base missing from db, or slo_scale without a (1, 1, 1) profile, is MX_EINPUT. */
int wl_models_resolve(struct wl_model_set *set, const struct prof_db *db, const char *db_path);

/* Index of the model called name, or -1. */
int32_t wl_models_find(const struct wl_model_set *set, const char *name);

/* Read the HDF5 trace at path with its requests renumbered to set's models (the trace's models
 * must all be in set; a model of set may have no request). MX_EINPUT names a trace model missing
 * from set. The caller frees *out with wl_trace_free(). */
int wl_models_read_trace(const struct wl_model_set *set, const char *path, struct wl_trace **out);

/* Write set (atomic; resolved SLOs are written as slo_s). */
int wl_models_write(const struct wl_model_set *set, const char *path);

void wl_models_free(struct wl_model_set *set);

#endif
