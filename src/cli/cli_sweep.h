/* The two ways muxplan sweep runs its cases: in this process, or across MPI ranks
 * (cli_sweep_mpi.c). Private to src/cli. */
#ifndef CLI_SWEEP_H
#define CLI_SWEEP_H

#include "sweep.h"

#include <stdbool.h>

struct cli_sweep_job {
    const struct sweep_spec *spec;
    const struct sweep_context *ctx;
    unsigned threads;
    const char *out_dir;
    struct sweep_row *rows; /* [cases * policies], filled in case order */
    double started_s;
    void (*on_case_done)(uint32_t done, uint32_t total, double started_s);
};

/* Whether this process was started by mpirun with more than one rank (and MPI is built in). */
bool cli_sweep_under_mpi(void);

/* Initialise MPI; *is_master tells whether this is rank 0, which checks the output folder, writes
 * the results and commits every output. */
int cli_sweep_mpi_start(bool *is_master);

/* Every rank's rc agreed: a failure anywhere is every rank's (a rank that did not fail itself gets
 * a message saying so). A collective call. */
int cli_sweep_mpi_agree(int rc);

/* Run every case across the ranks: rank 0 hands cases out and gathers the rows and the plans,
 * which the other ranks write and hand over to its output set (mx_outset_hand_over). Rank 0
 * returns the sweep's status; the others MX_OK unless they cannot hand over. */
int cli_sweep_run_mpi(const struct cli_sweep_job *job);

/* Finalise MPI. */
void cli_sweep_mpi_finish(void);

#endif
