/* muxplan sweep across MPI ranks (docs/sweeps.md): rank 0 hands out cases one at a time to
 * whichever rank asks (dynamic distribution, so slow cases do not hold the others back), gathers
 * their rows and writes the results; the other ranks plan. Each case is computed exactly as in one
 * process, so results.tsv is the same, its planning_s column aside. Plans are written by the rank
 * that made them: DIR must be on a file system every rank sees. */
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

#include <mpi.h>
#include <stdio.h>
#include <string.h>

enum { TAG_RESULT = 1, TAG_WORK = 2 };

/* A worker's message: the case it finished (-1: none yet), its status and message, then the case's
 * rows. */
struct result_header {
    int32_t case_index;
    int32_t rc;
    char error[512];
};

static int worker(const struct cli_sweep_job *job, size_t rows_bytes)
{
    size_t size = sizeof(struct result_header) + rows_bytes;
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
                               (struct sweep_row *)(buf + sizeof(*h)));
        if (h->rc < 0)
            snprintf(h->error, sizeof(h->error), "%s", mx_error_message());
    }
    free(buf);
    return MX_OK;
}

static int master(const struct cli_sweep_job *job, int ranks, size_t rows_bytes)
{
    size_t size = sizeof(struct result_header) + rows_bytes;
    char *buf = mx_malloc_array(size, 1);
    struct result_header *h = (struct result_header *)buf;
    uint32_t next = 0, done = 0, cases = sweep_case_count(job->spec);
    int stopped = 0, rc = MX_OK;
    while (stopped < ranks - 1) {
        MPI_Status status;
        MPI_Recv(buf, (int)size, MPI_BYTE, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &status);
        if (h->case_index >= 0 && h->rc < 0 && rc == MX_OK)
            rc = mx_error(h->rc, "%s", h->error);
        if (h->case_index >= 0 && h->rc == MX_OK) {
            memcpy(job->rows + (size_t)h->case_index * job->spec->n_policies, buf + sizeof(*h),
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

int cli_sweep_run_mpi(const struct cli_sweep_job *job, bool *is_master)
{
    int rank, ranks;
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    size_t rows_bytes = sizeof(struct sweep_row) * job->spec->n_policies;
    *is_master = rank == 0;
    int rc = rank == 0 ? master(job, ranks, rows_bytes) : worker(job, rows_bytes);
    /* Every rank learns whether the sweep failed, so that each exits with the same status. */
    int32_t shared = rc;
    MPI_Bcast(&shared, 1, MPI_INT32_T, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return rank == 0 ? rc : shared;
}

#else

int cli_sweep_run_mpi(const struct cli_sweep_job *job, bool *is_master)
{
    (void)job;
    *is_master = true;
    return mx_error(MX_EUSAGE, "this muxplan was built without MPI");
}

#endif
