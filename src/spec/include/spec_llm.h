/* How decoder groups serve (docs/decoders.md): the cluster's decoder settings (dispatch, admission,
 * KV block size) and a plan group's scheduler settings (batch budget, sequence cap, multi-model
 * policy), their names in files, and their defaults.
 *
 * Cluster JSON: "decoder": {"dispatch": "least-tokens", "admission": "none", "block_tokens": 16}
 * Plan group JSON: "scheduler": {"max_batch_tokens": 2048, "max_seqs": 256, "policy": "slack"}
 * Every member is optional; what is not given takes the default below. */
#ifndef SPEC_LLM_H
#define SPEC_LLM_H

#include <jansson.h>
#include <stdint.h>

struct mx_jpath;

/* Which replica of its model a decoder request goes to. */
enum spec_llm_dispatch {
    SPEC_LLM_LEAST_TOKENS, /* fewest outstanding prefill and output tokens (default) */
    SPEC_LLM_LEAST_KV,     /* smallest share of the KV pool in use */
    SPEC_LLM_ROUND_ROBIN,  /* the model's replicas in turn */
    SPEC_LLM_BEST_TTFT,    /* smallest predicted time to first token */
    SPEC_LLM_DISPATCH_COUNT
};

/* Whether a group refuses requests on arrival. */
enum spec_llm_admission {
    SPEC_LLM_ADMIT_ALL,  /* "none": only requests that can never fit are refused (default) */
    SPEC_LLM_ADMIT_TTFT, /* "ttft": also those whose predicted TTFT misses their SLO */
    SPEC_LLM_ADMISSION_COUNT
};

/* Which hosted model a group's next iteration serves. */
enum spec_mm_policy {
    SPEC_MM_SLACK,       /* the most urgent request's model (default) */
    SPEC_MM_ROUND_ROBIN, /* the models with work in turn */
    SPEC_MM_FCFS,        /* the model of the oldest schedulable request */
    SPEC_MM_POLICY_COUNT
};

#define SPEC_DEFAULT_BLOCK_TOKENS 16u
#define SPEC_DEFAULT_MAX_BATCH_TOKENS 2048u
#define SPEC_DEFAULT_MAX_SEQS 256u
/* The largest batch budget and sequence cap a group may have, and the largest KV block. */
#define SPEC_MAX_BATCH_TOKENS 65536u
#define SPEC_MAX_SEQS 65536u
#define SPEC_MAX_BLOCK_TOKENS 4096u

extern const char *const spec_llm_dispatch_names[SPEC_LLM_DISPATCH_COUNT];
extern const char *const spec_llm_admission_names[SPEC_LLM_ADMISSION_COUNT];
extern const char *const spec_mm_policy_names[SPEC_MM_POLICY_COUNT];

/* The cluster's decoder settings. */
struct spec_llm_settings {
    enum spec_llm_dispatch dispatch;
    enum spec_llm_admission admission;
    uint32_t block_tokens; /* tokens per KV block */
};

/* A decoder group's scheduler settings. */
struct spec_scheduler {
    uint32_t max_batch_tokens; /* tokens an iteration may hold */
    uint32_t max_seqs;         /* running requests per hosted model */
    enum spec_mm_policy policy;
};

struct spec_llm_settings spec_llm_settings_default(void);
struct spec_scheduler spec_scheduler_default(void);

/* Read the optional object at obj (NULL: defaults) into out; MX_EINPUT naming at's member. */
int spec_llm_settings_read(const struct mx_jpath *at, json_t *obj, struct spec_llm_settings *out);
int spec_scheduler_read(const struct mx_jpath *at, json_t *obj, struct spec_scheduler *out);

/* Their JSON objects, every member written. */
json_t *spec_llm_settings_json(const struct spec_llm_settings *s);
json_t *spec_scheduler_json(const struct spec_scheduler *s);

#endif
