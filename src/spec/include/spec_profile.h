/* The profile DB: what each base model costs under each parallel config.
 *
 * An encoder model (one forward pass per request) has, for every (base model, (dp, op, pp)), per
 * profiled batch size, the latency of each of the pp pipeline stages (seconds) and optionally its
 * activation bytes, plus the weight bytes each device of each stage holds. A decoder model (an
 * autoregressive LLM, docs/decoders.md) has instead, per config and stage, the cost of an
 * iteration (a dense table over its tokens and the attention coefficients), its weight bytes and
 * the KV and activation bytes per token, and per model its longest context and reference figures
 * for SLOs given as scales. Two file forms carry the same content: HDF5 (the DB proper,
 * format "muxplan-profile/1") and a hand-writable JSON form (same format string). docs/formats.md
 * documents both. A DB is read whole and is read-only afterwards. */
#ifndef SPEC_PROFILE_H
#define SPEC_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

/* The largest byte count a profile may state (1 PiB): sums of them cannot overflow int64. */
#define SPEC_MAX_BYTES (INT64_C(1) << 50)

/* The longest context (prompt plus output tokens) a decoder may have. */
#define SPEC_MAX_CONTEXT_TOKENS (1u << 24)

/* What a model's requests are: one forward pass (encoders), or a prefill and one decode iteration
 * per further output token (decoders). */
enum spec_model_kind { SPEC_ENCODER, SPEC_DECODER };

/* A decoder config's cost of an iteration of T tokens, P prefill attention pairs and D decode
 * context tokens on stage s (docs/decoders.md): dense_s(T) + prefill_pair_s * P +
 * decode_token_s * D + iteration_s, seconds, where dense_s is the table over tokens, interpolated
 * (spec_decoder_dense_s). */
struct spec_decoder_cost {
    uint32_t n_tokens;            /* grid points, at least one */
    int32_t *tokens;              /* [n_tokens] strictly ascending from 1 */
    double *dense_s;              /* [pp][n_tokens] seconds, each > 0 */
    double *prefill_pair_s;       /* [pp] seconds per query-key pair of prefill attention, >= 0 */
    double *decode_token_s;       /* [pp] seconds per context token a decode reads, >= 0 */
    double *iteration_s;          /* [pp] seconds every iteration costs on the stage, >= 0 */
    int64_t *kv_bytes_per_token;  /* [pp] KV-cache bytes of one token on each device of the stage */
    int64_t *act_bytes_per_token; /* [pp] activation bytes per token of an iteration, per device */
};

/* One (base model, parallel config). Public, read-only once in a DB. */
struct spec_config {
    int32_t dp, op, pp;      /* parallel config; a group of dp * op * pp devices */
    uint32_t n_batches;      /* profiled batch sizes: at least one for encoders, 0 for decoders */
    int32_t *batch;          /* [n_batches] strictly ascending, batch[0] == 1 */
    double *stage_latency_s; /* [n_batches][pp] seconds, each > 0 */
    int64_t *act_bytes;      /* [n_batches][pp] activation bytes per device, or NULL */
    int64_t *weight_bytes;   /* [pp] weight bytes on each device of each stage */
    int32_t *layer_ranges;   /* [pp][2] first layer and one past the last, or NULL */
    char *note;              /* free text on where the numbers come from, or NULL */
    struct spec_decoder_cost decoder; /* decoders only (n_tokens 0 for encoders) */
};

/* What a decoder model is, beside its configs: its longest sequence, and the unloaded figures its
 * SLOs are scales of (ttft_slo_scale, tpot_slo_scale in model sets): the TTFT of a reference input
 * alone, and one decode step alone, on its smallest config that fits its hardware. */
struct spec_decoder_model {
    uint32_t context_tokens; /* the longest prompt plus output */
    uint32_t reference_input_tokens;
    double reference_ttft_s, reference_tpot_s;
};

/* A base model and its configs. Public, read-only. */
struct spec_profile_model {
    char *name;
    enum spec_model_kind kind;
    struct spec_decoder_model decoder; /* decoders only */
    uint32_t n_configs;
    struct spec_config *configs;
};

struct spec_profile;

/* Whether name can name a model (and its HDF5 group): no '/', no control characters, not "." or
 * "..". */
bool spec_profile_name_valid(const char *name);

/* An empty DB for hardware (a name such as "v100-16gb"). Free with spec_profile_free(). */
struct spec_profile *spec_profile_new(const char *hardware);
void spec_profile_free(struct spec_profile *db);

/* Add a base model (its name must be new) and return its index: an encoder, or a decoder
 * described by info. */
uint32_t spec_profile_add_model(struct spec_profile *db, const char *name);
uint32_t spec_profile_add_decoder(struct spec_profile *db, const char *name,
                                  const struct spec_decoder_model *info);

/* Validate a decoder model's description: MX_EINPUT naming place. */
int spec_decoder_model_check(const struct spec_decoder_model *info, const char *place);

/* The dense cost of T tokens on stage s, seconds: d_j at a grid point T_j; between grid points
 * T_j < T < T_j+1 interpolated linearly, d_j + (d_j+1 - d_j) * (T - T_j) / (T_j+1 - T_j) in this
 * order; extended from the last two points beyond the grid (or constant with one point). */
double spec_decoder_dense_s(const struct spec_decoder_cost *cost, uint32_t s, double tokens);

/* Validate cfg and add a copy of it to model (by index). place names cfg in messages (e.g.
 * "p.json: models[0].configs[2]"). Errors: MX_EINPUT for invalid or duplicate configs. */
int spec_profile_add_config(struct spec_profile *db, uint32_t model, const struct spec_config *cfg,
                            const char *place);

/* Provenance: free-form JSON text (an object) recorded with the DB, or NULL. Copied. */
void spec_profile_set_provenance(struct spec_profile *db, const char *json_text);
const char *spec_profile_provenance(const struct spec_profile *db);

const char *spec_profile_hardware(const struct spec_profile *db);
uint32_t spec_profile_model_count(const struct spec_profile *db);
const struct spec_profile_model *spec_profile_model(const struct spec_profile *db, uint32_t index);
/* The model named name, or NULL. */
const struct spec_profile_model *spec_profile_find_model(const struct spec_profile *db,
                                                         const char *name);
/* The config (dp, op, pp) of model name, or NULL. */
const struct spec_config *spec_profile_find(const struct spec_profile *db, const char *name,
                                            int32_t dp, int32_t op, int32_t pp);

/* Stage latencies of cfg at batch-size index b: [pp] seconds. */
static inline const double *spec_config_latency(const struct spec_config *cfg, uint32_t b)
{
    return cfg->stage_latency_s + (uint64_t)b * (uint32_t)cfg->pp;
}

/* The single-device latency of a model: the sum of its (1, 1, 1) batch-1 stage latencies, in
 * seconds; negative when the DB has no (1, 1, 1) config for it. */
double spec_profile_single_device_latency_s(const struct spec_profile *db, const char *name);

/* Readers. spec_profile_load() picks HDF5 or JSON by the file's first bytes. Every problem is
 * MX_EINPUT with the file and the place. The caller frees *out. */
int spec_profile_load(const char *path, struct spec_profile **out);
int spec_profile_read_json(const char *path, struct spec_profile **out);
int spec_profile_read_h5(const char *path, struct spec_profile **out);

/* Writers, atomic. Errors are MX_EIO (MX_EUSAGE for an empty path). */
int spec_profile_write_json(const struct spec_profile *db, const char *path);
int spec_profile_write_h5(const struct spec_profile *db, const char *path);

#endif
