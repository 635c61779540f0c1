/* The model set: the served model instances, each with a base architecture and an SLO.
 *
 * JSON form ("muxplan-models/1"):
 *   {"format": "muxplan-models/1", "models": [
 *      {"name": "m0", "base": "bert-1.3b", "slo_s": 0.5, "rate": 2.0, "cv": 4},
 *      {"name": "m1", "base": "bert-1.3b", "slo_scale": 5}]}
 * Each model gives exactly one of slo_s (seconds) and slo_scale (a multiple of the base model's
 * single-device latency, resolved against a profile DB); rate (requests/s) and cv are optional. */
#ifndef SPEC_MODELS_H
#define SPEC_MODELS_H

#include <stdint.h>

/* The longest SLO muxplan takes, in seconds (11.6 days): of models and of trace requests. */
#define SPEC_MAX_SLO_S 1e6

/* The coefficients of variation of inter-arrival gaps a Gamma workload may have: of models, of
 * generators and of sweeps. */
#define SPEC_MIN_CV 0.01
#define SPEC_MAX_CV 100.0

struct spec_profile;

struct spec_model {
    char *name;       /* unique in the set */
    char *base;       /* base architecture, a model of the profile DB */
    double slo_s;     /* SLO in seconds; 0 until resolved when given as slo_scale */
    double slo_scale; /* the multiple given, or 0 when slo_s was given */
    double rate;      /* requests per second, or -1 when not given */
    double cv;        /* CV of inter-arrival gaps, or -1 when not given */
};

struct spec_model_set {
    char *path; /* the file it was read from, for messages */
    uint32_t n;
    struct spec_model *models; /* [n] */
};

/* Read a model set. Errors (MX_EINPUT) name the file and the member. Free with spec_models_free().
 */
int spec_models_read(const char *path, struct spec_model_set **out);

/* Check every base against db and turn slo_scale into seconds. db_path names the profile in
 * messages. A base missing from db, or slo_scale without a (1, 1, 1) profile, is MX_EINPUT. */
int spec_models_resolve(struct spec_model_set *set, const struct spec_profile *db,
                        const char *db_path);

/* Index of the model called name, or -1. */
int32_t spec_models_find(const struct spec_model_set *set, const char *name);

/* Write set (atomic; resolved SLOs are written as slo_s). */
int spec_models_write(const struct spec_model_set *set, const char *path);

void spec_models_free(struct spec_model_set *set);

#endif
