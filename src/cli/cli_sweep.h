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

/* Run every case across the ranks; *is_master tells the caller whether to write the results (rank
 * 0). Every rank returns the sweep's status. */
int cli_sweep_run_mpi(const struct cli_sweep_job *job, bool *is_master);

#endif
