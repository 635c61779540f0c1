/* The muxplan command line: one file per subcommand, sharing the option and error helpers here.
 * Only this directory prints errors and decides exit statuses. */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Each subcommand: argv[0] is the subcommand's name; returns the process exit status. */
int cli_trace(int argc, char **argv);
int cli_simulate(int argc, char **argv);
int cli_profile(int argc, char **argv);
/* muxplan profile --backend (cli_profile_build.c) and profile show (cli_profile_show.c), reached
 * through cli_profile(). */
int cli_profile_build(int argc, char **argv);
int cli_profile_show(int argc, char **argv);
/* muxplan profile ops (cli_profile_ops.c): the decoder cost model's per-operator prediction. */
int cli_profile_ops(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_compare(int argc, char **argv);
int cli_capacity(int argc, char **argv);
int cli_sweep(int argc, char **argv);
/* muxplan serve and fidelity (cli_serve.c): the runtime. */
int cli_serve(int argc, char **argv);
int cli_fidelity(int argc, char **argv);
int cli_export(int argc, char **argv);

/* muxplan trace import and stats (cli_trace_import.c, cli_trace_stats.c), reached through
 * cli_trace(). */
int cli_trace_import(int argc, char **argv);
int cli_trace_stats(int argc, char **argv);

/* A bundled file or folder (relative: "data/models"): the one in the source tree the binary was
 * built from when it exists, else the current folder's. Static storage; valid until the next
 * call. */
const char *cli_bundled(const char *relative);

/* Whether argv[1..] asks for --help or -h. */
bool cli_wants_help(int argc, char **argv);

/* Print "muxplan: MESSAGE" for the recorded error of code and return its exit status (1 or 2). */
int cli_report(int code);

/* Record a usage error "COMMAND: MESSAGE" and return MX_EUSAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse option values; errors are MX_EUSAGE naming the option. */
int cli_parse_f64(const char *option, const char *arg, double min, double max, double *out);
int cli_parse_u64(const char *option, const char *arg, uint64_t min, uint64_t max, uint64_t *out);

/* Keep a copy of the whole command line for provenance (main calls it first). */
void cli_remember_command_line(int argc, char **argv);

/* Provenance of an output: {"muxplan_version", "command", "seed"}. The command is the command line
 * with the options that cannot change the content left out (--threads, output paths, read through
 * the subcommand's getopt table options, abbreviations included), so that reruns with other thread
 * counts or destinations write identical files. Caller owns the object. */
json_t *cli_provenance(const struct option *options, uint64_t seed);

/* getopt_long state is global: reset it before each subcommand parses. */
void cli_reset_getopt(void);

#endif
