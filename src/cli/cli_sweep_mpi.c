/* muxplan sweep across MPI ranks (docs/sweeps.md): rank 0 hands out cases one at a time to
 * whichever rank asks (dynamic distribution, so slow cases do not hold the others back), gathers
 * their rows and writes the results; the other ranks plan. Each case is computed exactly as in one
 * process, so results.tsv is the same, its planning_s column aside. Plans are written by the rank
 * that made them, under temporary names, and handed to rank 0, which renames them into place with
 * the rest of the outputs when the sweep succeeds (or removes them): DIR must be on a file system
 * every rank sees. */
#include "cli_sweep.h"

#include "mx_config.h"
#include "mx_error.h"

#include <stdlib.h>

bool cli_sweep_under_mpi(void)
{
    /* Open MPI's launcher sets this; a plain run stays a plain process (no MPI_Init at all). */
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    return MX_HAVE_MPI && size && atoi(size) > 1;
}

#if MX_HAVE_MPI

#include "mx_alloc.h"
#include "mx_file.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

enum { TAG_RESULT = 1, TAG_WORK = 2 };

/* The most a worker's message carries of its plans' names (temporary and destination). */
#define HANDOVER_BYTES (64 * 1024)

/* A worker's message: the case it finished (-1: none yet), its status and message, the case's
 * rows, then its plans (mx_outset_hand_over), handed to rank 0 whether the case failed or not. */
struct result_header {
    int32_t case_index;
    int32_t rc;
    uint32_t handover_len;
    char error[512];
};

/* Where the rows start in a message: past the header, aligned for them. */
#define ROWS_AT                                                                                    \
    ((sizeof(struct result_header) + _Alignof(struct sweep_row) - 1) /                             \
     _Alignof(struct sweep_row) * _Alignof(struct sweep_row))

static int worker(const struct cli_sweep_job *job, size_t rows_bytes)
{
    size_t size = ROWS_AT + rows_bytes + HANDOVER_BYTES;
    char *buf = mx_calloc(size, 1);
    struct result_header *h = (struct result_header *)buf;
    h->case_index = -1;
    for (;;) {
        MPI_Send(buf, (int)size, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
        int32_t c;
        MPI_Recv(&c, 1, MPI_INT32_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (c < 0)
            break;
        memset(buf, 0, size);
        h->case_index = c;
        h->rc = sweep_run_case(job->ctx, (uint32_t)c, job->threads, job->out_dir,
                               (struct sweep_row *)(buf + ROWS_AT));
        size_t len = 0;
        int handed = mx_outset_hand_over(buf + ROWS_AT + rows_bytes, HANDOVER_BYTES, &len);
        if (h->rc == MX_OK)
            h->rc = handed;
        h->handover_len = (uint32_t)len;
        if (h->rc < 0)
            snprintf(h->error, sizeof(h->error), "%s", mx_error_message());
    }
    free(buf);
    return MX_OK;
}

static int master(const struct cli_sweep_job *job, int ranks, size_t rows_bytes)
{
    size_t size = ROWS_AT + rows_bytes + HANDOVER_BYTES;
    char *buf = mx_malloc_array(size, 1);
    struct result_header *h = (struct result_header *)buf;
    uint32_t next = 0, done = 0, cases = sweep_case_count(job->spec);
    int stopped = 0, rc = MX_OK;
    while (stopped < ranks - 1) {
        MPI_Status status;
        MPI_Recv(buf, (int)size, MPI_BYTE, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &status);
        if (h->case_index >= 0)
            mx_outset_adopt(buf + ROWS_AT + rows_bytes, h->handover_len);
        if (h->case_index >= 0 && h->rc < 0 && rc == MX_OK)
            rc = mx_error(h->rc, "%s", h->error);
        if (h->case_index >= 0 && h->rc == MX_OK) {
            memcpy(job->rows + (size_t)h->case_index * job->spec->n_policies, buf + ROWS_AT,
                   rows_bytes);
            job->on_case_done(++done, cases, job->started_s);
        }
        int32_t c = rc == MX_OK && next < cases ? (int32_t)next++ : -1;
        stopped += c < 0;
        MPI_Send(&c, 1, MPI_INT32_T, status.MPI_SOURCE, TAG_WORK, MPI_COMM_WORLD);
    }
    free(buf);
    return rc;
}

int cli_sweep_mpi_start(bool *is_master)
{
    int rank;
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    *is_master = rank == 0;
    return MX_OK;
}

int cli_sweep_mpi_agree(int rc)
{
    int32_t mine = rc, agreed = 0;
    MPI_Allreduce(&mine, &agreed, 1, MPI_INT32_T, MPI_MIN, MPI_COMM_WORLD);
    if (agreed < 0 && mine == MX_OK)
        return mx_error(agreed, "sweep: another MPI rank failed (rank 0 reports why)");
    return agreed < 0 ? mine : MX_OK;
}

int cli_sweep_run_mpi(const struct cli_sweep_job *job)
{
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    size_t rows_bytes = sizeof(struct sweep_row) * job->spec->n_policies;
    return rank == 0 ? master(job, ranks, rows_bytes) : worker(job, rows_bytes);
}

void cli_sweep_mpi_finish(void)
{
    MPI_Finalize();
}

#else

int cli_sweep_mpi_start(bool *is_master)
{
    *is_master = true;
    return mx_error(MX_EUSAGE, "this muxplan was built without MPI");
}

int cli_sweep_mpi_agree(int rc)
{
    return rc;
}

int cli_sweep_run_mpi(const struct cli_sweep_job *job)
{
    (void)job;
    return mx_error(MX_EUSAGE, "this muxplan was built without MPI");
}

void cli_sweep_mpi_finish(void) {}

#endif
