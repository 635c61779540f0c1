/* The model set: the served model instances, each with a base architecture and its SLOs.
 *
 * JSON form ("muxplan-models/1"):
 *   {"format": "muxplan-models/1", "models": [
 *      {"name": "m0", "base": "bert-1.3b", "slo_s": 0.5, "rate": 2.0, "cv": 4},
 *      {"name": "m1", "base": "bert-1.3b", "slo_scale": 5},
 *      {"name": "chat", "base": "llama-2-7b", "ttft_slo_scale": 5, "tpot_slo_s": 0.1,
 *       "lengths": "lognormal:1000,1.0/lognormal:200,0.8"}]}
 * An encoder's SLO is its latency SLO: exactly one of slo_s (seconds) and slo_scale (a multiple of
 * the base model's single-device latency). A decoder (docs/decoders.md) may have a time to first
 * token SLO (ttft_slo_s, or ttft_slo_scale: a multiple of the profile's reference TTFT), a time per
 * output token SLO (tpot_slo_s or tpot_slo_scale, of the reference TPOT) and an end-to-end SLO
 * (slo_s), at least one; lengths tells trace generators how long its requests are (the grammar is
 * wl_gen.h's). Scales resolve against a profile DB; rate (requests/s) and cv are optional. */
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

/* An SLO as given: in seconds, or as a multiple of a figure of the profile, or not at all. */
struct spec_slo {
    double s;     /* seconds; INFINITY for none; 0 until resolved when given as a scale */
    double scale; /* the multiple given, or 0 */
};

struct spec_model {
    char *name;           /* unique in the set */
    char *base;           /* base architecture, a model of the profile DB */
    struct spec_slo slo;  /* latency (encoders) or end-to-end (decoders) */
    struct spec_slo ttft; /* decoders: time to first token */
    struct spec_slo tpot; /* decoders: time per output token */
    char *lengths;        /* decoders: request lengths for generators, or NULL */
    double rate;          /* requests per second, or -1 when not given */
    double cv;            /* CV of inter-arrival gaps, or -1 when not given */
};

struct spec_model_set {
    char *path; /* the file it was read from, for messages */
    uint32_t n;
    struct spec_model *models; /* [n] */
};

/* A model with a latency SLO of slo_s seconds and nothing else given (copies of name and base),
 * for sets built in code. */
struct spec_model spec_model_make(const char *name, const char *base, double slo_s);

/* Read a model set. Errors (MX_EINPUT) name the file and the member. Free with spec_models_free().
 */
int spec_models_read(const char *path, struct spec_model_set **out);

/* Check every base against db (its kind decides which SLOs a model may have) and turn scales into
 * seconds. db_path names the profile in messages. A base missing from db, an SLO its kind cannot
 * have or lacks, or a scale without its reference figure is MX_EINPUT. */
int spec_models_resolve(struct spec_model_set *set, const struct spec_profile *db,
                        const char *db_path);

/* The first model that gives an SLO as a scale (which needs a profile to resolve), or -1. */
int32_t spec_models_first_scaled(const struct spec_model_set *set);

/* Multiply every SLO of m given or resolved in seconds by k (> 0). */
void spec_model_scale_slos(struct spec_model *m, double k);

/* Index of the model called name, or -1. */
int32_t spec_models_find(const struct spec_model_set *set, const char *name);

/* Write set (atomic; resolved SLOs are written in seconds). */
int spec_models_write(const struct spec_model_set *set, const char *path);

void spec_models_free(struct spec_model_set *set);

#endif
