/* muxplan sweep: every case and policy of a sweep spec, into a results folder. */
#include "cli.h"
#include "cli_sweep.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_time.h"
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char sweep_help[] =
    "usage: muxplan sweep SPEC.json -o DIR [--threads N]\n"
    "\n"
    "Plans every case of the spec (the cartesian product of its swept devices, rate_scale,\n"
    "cv_scale and slo_scale) with every policy on the training workload, scores each plan on the\n"
    "test workload, and writes DIR/results.tsv and DIR/results.h5 (one row per case and policy),\n"
    "DIR/plans/case-<c>-<policy>.json, and DIR/attainment_vs_<param>.{png,svg,tsv} for each swept\n"
    "parameter (one line per policy, a dashed line at 99%). docs/sweeps.md describes the spec.\n"
    "The outputs appear together when the sweep succeeds, or none. DIR is created if missing (its\n"
    "parent must exist); an existing DIR must be empty or hold a previous sweep's outputs, which\n"
    "the new ones replace as a whole.\n"
    "\n"
    "Started by mpirun with several ranks (a build with MPI), rank 0 hands the cases out to the\n"
    "other ranks and writes the same results.\n"
    "\n"
    "example:\n"
    "  muxplan sweep examples/sweeps/rate.json -o out/rate\n"
    "  mpirun -n 4 muxplan sweep examples/sweeps/rate.json -o out/rate\n";

static void progress(uint32_t done, uint32_t total, double started_s)
{
    if (!isatty(STDERR_FILENO))
        return;
    double elapsed = mx_wall_s() - started_s, left = elapsed / done * (total - done);
    fprintf(stderr, "\rmuxplan: sweep %u/%u cases, %.0f s, about %.0f s left   ", done, total,
            elapsed, left);
    if (done == total)
        fputc('\n', stderr);
}

int cli_sweep(int argc, char **argv)
{
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"threads", required_argument, NULL, 't'},
                                            {NULL, 0, NULL, 0}};
    const char *out_dir = NULL;
    uint64_t threads = 1;
    int opt, rc = MX_OK;
    if (cli_wants_help(argc, argv)) {
        fputs(sweep_help, stdout);
        return 0;
    }
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        if (opt == 'o')
            out_dir = optarg;
        else if (opt == 't')
            rc = cli_parse_u64("--threads", optarg, 1, 1024, &threads);
        else
            rc = cli_usage_error("sweep", "unknown or incomplete option \"%s\"", argv[optind - 1]);
    }
    if (rc == MX_OK && (argc - optind != 1 || !out_dir))
        rc = cli_usage_error("sweep", "expected SPEC.json -o DIR");
    struct sweep_spec *spec = NULL;
    struct sweep_context *ctx = NULL;
    struct sweep_row *rows = NULL;
    if (rc == MX_OK)
        rc = sweep_spec_read(argv[optind], &spec);
    bool mpi = rc == MX_OK && cli_sweep_under_mpi(), is_master = true;
    if (mpi)
        rc = cli_sweep_mpi_start(&is_master);
    /* The outputs appear together at the end, or none (and no folder the sweep made). Rank 0
     * checks the folder and commits; the other ranks hand their plans to it. */
    mx_outset_begin();
    if (rc == MX_OK && is_master)
        rc = sweep_output_prepare(out_dir);
    if (rc == MX_OK)
        rc = sweep_context_open(spec, &ctx);
    if (mpi)
        rc = cli_sweep_mpi_agree(rc);
    uint32_t cases = rc == MX_OK ? sweep_case_count(spec) : 0;
    if (rc == MX_OK)
        rows = MX_NEW_ARRAY(struct sweep_row, (size_t)cases * spec->n_policies);
    struct cli_sweep_job job = {spec, ctx, (unsigned)threads, out_dir, rows, mx_wall_s(), progress};
    if (rc == MX_OK && mpi)
        rc = cli_sweep_run_mpi(&job);
    else
        for (uint32_t c = 0; rc == MX_OK && c < cases; c++) {
            rc = sweep_run_case(ctx, c, job.threads, out_dir, rows + (size_t)c * spec->n_policies);
            if (rc == MX_OK)
                progress(c + 1, cases, job.started_s);
        }
    if (rc == MX_OK && is_master)
        rc = sweep_write(spec, rows, out_dir);
    if (rc == MX_OK && is_master)
        rc = mx_outset_commit();
    else
        mx_outset_abort();
    if (mpi) {
        rc = cli_sweep_mpi_agree(rc);
        cli_sweep_mpi_finish();
    }
    if (rc == MX_OK && is_master)
        fprintf(stderr, "muxplan: %u cases x %u policies in %.1f s: %s/results.tsv\n", cases,
                spec->n_policies, mx_wall_s() - job.started_s, out_dir);
    free(rows);
    sweep_context_free(ctx);
    sweep_spec_free(spec);
    /* Rank 0 reports a failure, the worker's own included. */
    return rc == MX_OK ? 0 : is_master ? cli_report(rc) : mx_exit_status(rc);
}
