/* Decoder serving settings: names, defaults, and their JSON forms (spec_llm.h). */
#include "spec_llm.h"

#include "mx_error.h"
#include "mx_json.h"

const char *const spec_llm_dispatch_names[SPEC_LLM_DISPATCH_COUNT] = {"least-tokens", "least-kv",
                                                                      "round-robin", "best-ttft"};
const char *const spec_llm_admission_names[SPEC_LLM_ADMISSION_COUNT] = {"none", "ttft"};
const char *const spec_mm_policy_names[SPEC_MM_POLICY_COUNT] = {"slack", "round-robin", "fcfs"};

struct spec_llm_settings spec_llm_settings_default(void)
{
    return (struct spec_llm_settings){SPEC_LLM_LEAST_TOKENS, SPEC_LLM_ADMIT_ALL,
                                      SPEC_DEFAULT_BLOCK_TOKENS};
}

struct spec_scheduler spec_scheduler_default(void)
{
    return (struct spec_scheduler){SPEC_DEFAULT_MAX_BATCH_TOKENS, SPEC_DEFAULT_MAX_SEQS,
                                   SPEC_MM_SLACK};
}

int spec_llm_settings_read(const struct mx_jpath *at, json_t *obj, struct spec_llm_settings *out)
{
    static const char *const keys[] = {"dispatch", "admission", "block_tokens", NULL};
    int dispatch = SPEC_LLM_LEAST_TOKENS, admission = SPEC_LLM_ADMIT_ALL;
    int64_t block = SPEC_DEFAULT_BLOCK_TOKENS;
    int rc;
    *out = spec_llm_settings_default();
    if (!obj)
        return MX_OK;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_opt_choice(at, obj, "dispatch", spec_llm_dispatch_names,
                                 SPEC_LLM_DISPATCH_COUNT, &dispatch)) < 0 ||
        (rc = mx_json_opt_choice(at, obj, "admission", spec_llm_admission_names,
                                 SPEC_LLM_ADMISSION_COUNT, &admission)) < 0 ||
        (rc = mx_json_opt_i64(at, obj, "block_tokens", 1, SPEC_MAX_BLOCK_TOKENS, &block, NULL)) < 0)
        return rc;
    *out = (struct spec_llm_settings){(enum spec_llm_dispatch)dispatch,
                                      (enum spec_llm_admission)admission, (uint32_t)block};
    return MX_OK;
}

int spec_scheduler_read(const struct mx_jpath *at, json_t *obj, struct spec_scheduler *out)
{
    static const char *const keys[] = {"max_batch_tokens", "max_seqs", "policy", NULL};
    int64_t tokens = SPEC_DEFAULT_MAX_BATCH_TOKENS, seqs = SPEC_DEFAULT_MAX_SEQS;
    int policy = SPEC_MM_SLACK;
    int rc;
    *out = spec_scheduler_default();
    if (!obj)
        return MX_OK;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_opt_i64(at, obj, "max_batch_tokens", 1, SPEC_MAX_BATCH_TOKENS, &tokens,
                              NULL)) < 0 ||
        (rc = mx_json_opt_i64(at, obj, "max_seqs", 1, SPEC_MAX_SEQS, &seqs, NULL)) < 0 ||
        (rc = mx_json_opt_choice(at, obj, "policy", spec_mm_policy_names, SPEC_MM_POLICY_COUNT,
                                 &policy)) < 0)
        return rc;
    *out = (struct spec_scheduler){(uint32_t)tokens, (uint32_t)seqs, (enum spec_mm_policy)policy};
    return MX_OK;
}

json_t *spec_llm_settings_json(const struct spec_llm_settings *s)
{
    json_t *obj = json_object();
    mx_json_set(obj, "dispatch", json_string(spec_llm_dispatch_names[s->dispatch]));
    mx_json_set(obj, "admission", json_string(spec_llm_admission_names[s->admission]));
    mx_json_set(obj, "block_tokens", json_integer(s->block_tokens));
    return obj;
}

json_t *spec_scheduler_json(const struct spec_scheduler *s)
{
    json_t *obj = json_object();
    mx_json_set(obj, "max_batch_tokens", json_integer(s->max_batch_tokens));
    mx_json_set(obj, "max_seqs", json_integer(s->max_seqs));
    mx_json_set(obj, "policy", json_string(spec_mm_policy_names[s->policy]));
    return obj;
}
