/* muxplan: dispatch to one subcommand. */
#include "cli.h"

#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"
#include "mx_file.h"

#include <gsl/gsl_errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"trace", cli_trace, "generate, import, export and describe workload traces"},
    {"simulate", cli_simulate, "replay a trace against a plan and report SLO attainment"},
    {"profile", cli_profile, "import and export profile DBs"},
    {"plan", cli_plan, "search a placement by simulated SLO attainment and write the plan"},
    {"compare", cli_compare, "plan with several policies and compare them on a test workload"},
    {"capacity", cli_capacity, "the fewest devices whose plan reaches a target attainment"},
    {"sweep", cli_sweep, "plan and score every policy over a grid of cases, with plots"},
    {"serve", cli_serve, "execute a plan for real on CPU cores or GPUs (the runtime)"},
    {"fidelity", cli_fidelity, "simulate and serve one plan and compare the two"},
    {"export", cli_export, "a plan of decoders as vLLM launch commands"},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: muxplan <command> [options]\n\n"
                "Plan and simulate multi-model serving under latency SLOs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n'muxplan <command> --help' describes a command, with an example.\n"
                "Exit status: 0 success, 1 failure while running, 2 bad usage or bad input.\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("muxplan %s (CUDA %s, MPI %s)\n", MX_VERSION, MX_HAVE_CUDA ? "yes" : "no",
               MX_HAVE_MPI ? "yes" : "no");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli_reset_getopt();
            return commands[i].run(argc - 1, argv + 1);
        }
    return cli_report(
        mx_error(MX_EUSAGE, "unknown command \"%s\" (see 'muxplan --help')", argv[1]));
}

/* Ctrl-C or a termination request: remove half-written outputs, those waiting for their output
 * set's commit and the folders it made, then die of the same signal. */
static void on_fatal_signal(int sig)
{
    mx_out_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();
    mx_input_guard();
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    /* getopt reorders argv; provenance records the command line as typed. */
    char **typed = MX_NEW_ARRAY(char *, (size_t)argc + 1);
    for (int i = 0; i < argc; i++)
        typed[i] = argv[i];
    cli_remember_command_line(argc, typed);
    int status = run(argc, argv);
    free(typed);
    /* Tables and JSON go to stdout: a full disk or a closed pipe there is a failure too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "muxplan: stdout: write failed\n");
        return status ? status : 1;
    }
    return status;
}
