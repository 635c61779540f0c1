/* muxplan serve and fidelity for plans whose groups host decoder models (cli_serve_llm.c): the
 * decoder runtime (rt_llm.h) and the iteration-level simulator beside it. cli_serve.c parses the
 * options and hands them over. */
#ifndef CLI_SERVE_LLM_H
#define CLI_SERVE_LLM_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

struct rt_backend;

struct cli_llm_args {
    const char *command; /* "serve" or "fidelity" */
    const struct option *options;
    const char *cluster, *plan, *trace, *profile, *zoo, *requests_out;
    const struct rt_backend *backend;
    bool dispatch_given; /* --dispatch: encoders' only */
    double warmup_s;
    uint64_t seed;
    bool calibrate, json;
};

/* Whether the plan at plan_path hosts decoder models, by the profile at profile_path (*out).
 * Errors are those of reading either. */
int cli_llm_plan(const char *plan_path, const char *profile_path, bool *out);

/* serve and fidelity of a decoder plan; a plan that also hosts encoders, or a trace with their
 * requests, is refused (MX_EINPUT). */
int cli_serve_llm(const struct cli_llm_args *a);
int cli_fidelity_llm(const struct cli_llm_args *a);

#endif
