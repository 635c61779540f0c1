/* bench/profile_speed: how long profiling takes (issue 4's targets: the whole zoo with roofline
 * under 1 s; the cpu backend's time for the tiny models).
 *
 * Profiles every model of the zoo (data/models) over the default grid with the roofline backend
 * and the V100 spec, then every decoder of the zoo over the decoders' default grid (op 1 to 8, pp
 * 1 to 8, the default token grid to 16384) with the roofline and the H100 spec (issue 23: under
 * 1 s), then the tiny models with the cpu backend on this machine, in one process, without writing
 * files. Prints one JSON line per case.
 *
 * usage: profile_speed [--zoo DIR] [--hardware HW.json] [--decoder-hardware HW.json] [--no-cpu] */
#include "mx_error.h"
#include "mx_time.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_build.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "spec_profile.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const zoo_models[] = {
    "bert-125m",   "bert-1.3b",   "bert-2.6b",   "bert-6.7b",      "bert-104b", "moe-1.3b",
    "moe-2.4b",    "moe-7.1b",    "moe-10b",     "gpt-350m",       "gpt-1.3b",  "gpt-6.7b",
    "tiny-2l-128", "tiny-2l-512", "tiny-4l-256", "tiny-gpt-2l-256"};
static const char *const decoder_models[] = {
    "llama-2-7b",   "llama-2-13b",       "llama-2-70b",      "llama-3-8b",
    "llama-3-70b",  "mistral-7b",        "codellama-34b",    "qwen-72b",
    "mixtral-8x7b", "tiny-llama-2l-256", "tiny-llama-4l-512"};
static const char *const tiny_models[] = {"tiny-2l-128", "tiny-2l-512", "tiny-4l-256",
                                          "tiny-gpt-2l-256"};

/* Profile n models of zoo on backend name; configs counted into *configs. */
static int run(const char *name, const struct prof_hw *hw, const char *zoo,
               const char *const *models, size_t n, double *seconds, unsigned *configs)
{
    struct prof_backend *be = NULL;
    struct spec_profile *db = spec_profile_new(hw->name);
    json_t *raw = json_array();
    int rc = prof_backend_open(name, hw, &be);
    double t0 = mx_wall_s();
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        struct prof_arch *a = NULL;
        rc = prof_arch_find(zoo, models[i], &a);
        if (rc == MX_OK && a->kind == PROF_ARCH_DECODER) {
            static const int32_t ops[] = {1, 2, 4, 8}, pps[] = {1, 2, 4, 8};
            int32_t tokens[PROF_DECODER_MAX_TOKENS];
            struct prof_decoder_grid grid = {.n_ops = 4,
                                             .n_pps = 4,
                                             .ops = ops,
                                             .pps = pps,
                                             .tokens = tokens,
                                             .max_batch_tokens = 16384};
            grid.n_tokens = prof_decoder_default_tokens(16384, tokens);
            rc = prof_build_decoder(db, a, hw, be, &grid, raw);
        } else if (rc == MX_OK) {
            rc = prof_build_model(db, a, hw, be, &prof_grid_default, raw);
        }
        prof_arch_free(a);
    }
    *seconds = mx_wall_s() - t0;
    *configs = 0;
    for (uint32_t m = 0; rc == MX_OK && m < spec_profile_model_count(db); m++)
        *configs += spec_profile_model(db, m)->n_configs;
    if (be)
        be->free(be);
    json_decref(raw);
    spec_profile_free(db);
    return rc;
}

int main(int argc, char **argv)
{
    const char *zoo = "data/models", *hw_path = "data/hardware/v100-16gb.json",
               *decoder_hw_path = "data/hardware/h100-80gb.json";
    int with_cpu = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--zoo") == 0 && i + 1 < argc)
            zoo = argv[++i];
        else if (strcmp(argv[i], "--hardware") == 0 && i + 1 < argc)
            hw_path = argv[++i];
        else if (strcmp(argv[i], "--decoder-hardware") == 0 && i + 1 < argc)
            decoder_hw_path = argv[++i];
        else if (strcmp(argv[i], "--no-cpu") == 0)
            with_cpu = 0;
        else {
            fprintf(stderr, "usage: profile_speed [--zoo DIR] [--hardware HW.json] "
                            "[--decoder-hardware HW.json] [--no-cpu]\n");
            return 2;
        }
    }
    struct prof_hw *hw = NULL;
    double seconds;
    unsigned configs;
    if (prof_hw_read(hw_path, &hw) < 0 ||
        run("roofline", hw, zoo, zoo_models, sizeof(zoo_models) / sizeof(zoo_models[0]), &seconds,
            &configs) < 0) {
        fprintf(stderr, "profile_speed: %s\n", mx_error_message());
        return 1;
    }
    printf("{\"bench\": \"profile_speed\", \"backend\": \"roofline\", \"models\": %zu, "
           "\"configs\": %u, \"seconds\": %.4f}\n",
           sizeof(zoo_models) / sizeof(zoo_models[0]), configs, seconds);
    fflush(stdout);
    struct prof_hw *decoder_hw = NULL;
    size_t n_decoders = sizeof(decoder_models) / sizeof(decoder_models[0]);
    if (prof_hw_read(decoder_hw_path, &decoder_hw) < 0 ||
        run("roofline", decoder_hw, zoo, decoder_models, n_decoders, &seconds, &configs) < 0) {
        fprintf(stderr, "profile_speed: %s\n", mx_error_message());
        return 1;
    }
    printf("{\"bench\": \"profile_speed\", \"backend\": \"roofline\", \"kind\": \"decoder\", "
           "\"hardware\": \"%s\", \"models\": %zu, \"configs\": %u, \"seconds\": %.4f}\n",
           decoder_hw->name, n_decoders, configs, seconds);
    fflush(stdout);
    prof_hw_free(decoder_hw);
    if (with_cpu) {
        /* The cpu backend with the V100's links: only the measured layer times matter here. */
        if (run("cpu", hw, zoo, tiny_models, 4, &seconds, &configs) < 0) {
            fprintf(stderr, "profile_speed: %s\n", mx_error_message());
            return 1;
        }
        printf("{\"bench\": \"profile_speed\", \"backend\": \"cpu\", \"models\": 4, "
               "\"configs\": %u, \"seconds\": %.2f}\n",
               configs, seconds);
    }
    prof_hw_free(hw);
    return 0;
}
