/* muxplan export: a plan as a launch description for an existing LLM server. */
#include "cli.h"

#include "mx_error.h"
#include "mx_file.h"
#include "plan_export.h"
#include "spec_cluster.h"
#include "spec_plan.h"
#include "spec_profile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char export_help[] =
    "usage: muxplan export vllm --plan P.json --cluster C.json --profile DB.h5 [-o FILE]\n"
    "\n"
    "Writes a shell script of `vllm serve` commands for a plan of decoder groups: one server per\n"
    "model of each group, on the group's devices (CUDA_VISIBLE_DEVICES), with its tensor and\n"
    "pipeline sizes, the group's max_batch_tokens and max_seqs, the cluster's KV block size,\n"
    "chunked prefill, and the share of each device's memory the model may use (its weights, its\n"
    "activations and its slice of the group's KV pool, split among the group's models by their\n"
    "KV bytes per token, since vLLM gives each server its own cache). Models are named by their\n"
    "base; replace them with the checkpoints you serve. A starting point to adapt, not a\n"
    "guarantee: vLLM's scheduler, kernels and memory accounting differ from the simulator's\n"
    "(docs/planner.md). Without -o the script goes to standard output.\n"
    "\n"
    "example:\n"
    "  muxplan export vllm --plan plan.json --cluster cluster.json \\\n"
    "      --profile data/profiles/h100-llm.h5 -o launch.sh\n";

static const struct option export_options[] = {{"plan", required_argument, NULL, 'P'},
                                               {"cluster", required_argument, NULL, 'c'},
                                               {"profile", required_argument, NULL, 'p'},
                                               {"output", required_argument, NULL, 'o'},
                                               {NULL, 0, NULL, 0}};

int cli_export(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(export_help, stdout);
        return 0;
    }
    const char *plan_path = NULL, *cluster_path = NULL, *profile_path = NULL, *out_path = "-";
    int opt, rc = MX_OK;
    if (argc < 2 || strcmp(argv[1], "vllm") != 0)
        return cli_report(cli_usage_error("export", "the format must come first: export vllm"));
    argc--;
    argv++;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", export_options, NULL)) != -1) {
        switch (opt) {
        case 'P':
            plan_path = optarg;
            break;
        case 'c':
            cluster_path = optarg;
            break;
        case 'p':
            profile_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        default:
            rc = cli_usage_error("export", "unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error("export", "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK && (!plan_path || !cluster_path || !profile_path))
        rc = cli_usage_error("export", "--plan, --cluster and --profile are required");
    struct spec_cluster cluster;
    struct spec_profile *db = NULL;
    struct spec_plan *plan = NULL;
    char *script = NULL;
    if (rc == MX_OK) {
        mx_input_note(plan_path);
        mx_input_note(cluster_path);
        mx_input_note(profile_path);
    }
    if (rc == MX_OK && (rc = mx_output_check_text(out_path)) == MX_OK &&
        (rc = spec_cluster_read(cluster_path, &cluster)) == MX_OK &&
        (rc = spec_profile_load(profile_path, &db)) == MX_OK &&
        (rc = spec_plan_read(plan_path, &plan)) == MX_OK &&
        (rc = spec_plan_validate(plan, &cluster, cluster_path, db, profile_path)) == MX_OK &&
        (rc = plan_export_vllm(plan, &cluster, db, profile_path, &script)) == MX_OK) {
        struct mx_out out;
        if ((rc = mx_out_begin(out_path, true, &out)) == MX_OK) {
            fputs(script, out.fp);
            rc = mx_out_commit(&out);
        }
    }
    free(script);
    spec_plan_free(plan);
    spec_profile_free(db);
    return rc == MX_OK ? 0 : cli_report(rc);
}
