/* Test fixtures: small profiles, plans, traces and clusters built in memory, and helpers to run the
 * muxplan binary. Every builder aborts on misuse; tests own what they get and free it with the
 * module's own _free. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include "sim.h"
#include "spec_plan.h"
#include "spec_profile.h"
#include "wl_trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A cluster of n devices on nodes of per_node, a large memory budget and zero overheads. */
struct spec_cluster fx_cluster(uint32_t devices, uint32_t per_node);

/* Add config (1, op, pp) of base to db with batch-1 stage latencies (seconds) and weight bytes per
 * device w for every stage. Further batch sizes: fx_profile_add_batch(). */
void fx_profile_add(struct spec_profile *db, const char *base, int op, int pp,
                    const double *latency_s, int64_t weight_bytes);
/* Add (1, op, pp) with n_batches batch sizes and latencies [n_batches][pp]. */
void fx_profile_add_batches(struct spec_profile *db, const char *base, int op, int pp,
                            uint32_t n_batches, const int32_t *batch, const double *latency_s,
                            int64_t weight_bytes);

/* A plan of n_models models (names "m0", "m1", ... unless names is given) with one base each. */
struct spec_plan *fx_plan_new(uint32_t n_models, const char *const *bases);
/* Start a new segment at start_s (the first segment exists already, at 0). */
void fx_plan_add_segment(struct spec_plan *p, double start_s);
/* Add a group to the last segment: config (1, op, pp) on devices first .. first + op*pp - 1,
 * hosting the n models listed (plan model indices). Returns its id. */
int32_t fx_plan_add_group(struct spec_plan *p, int op, int pp, uint32_t first_device, uint32_t n,
                          const uint32_t *models);

/* A trace of n requests over n_models models named like fx_plan_new's. */
struct wl_trace *fx_trace(size_t n, const double *arrival_s, const int32_t *model,
                          const double *slo_s, uint32_t n_models);

/* Compile and run; aborts the test on any error. */
struct sim_results *fx_run(const struct spec_cluster *c, const struct spec_profile *db,
                           const struct spec_plan *p, const struct wl_trace *t,
                           const struct sim_options *o, struct sim_world **world_out);

/* A path under the source tree (MUXPLAN_SOURCE_ROOT), and a fresh temporary directory. */
const char *fx_source_path(const char *relative);
const char *fx_tmpdir(void);
/* dir/name in a static buffer (one of 32 rotating buffers; fx_source_path likewise). */
const char *fx_path(const char *dir, const char *name);

/* Write text to path. */
void fx_write_file(const char *path, const char *text);
/* Read a whole file (caller frees); NULL if absent. */
char *fx_read_file(const char *path, size_t *len);

/* Run the muxplan binary with a command line (split on spaces; no quoting) and capture stdout and
 * stderr. Returns the exit status; a sanitizer report on stderr fails the test. The captured text
 * lives until the next call. */
struct fx_output {
    int status;
    const char *out;
    const char *err;
};
struct fx_output fx_muxplan(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fx_muxplan with the command's file size limited to fsize bytes (RLIMIT_FSIZE, SIGXFSZ ignored):
 * a write past it fails with EFBIG ("File too large"), as a write to a full disk fails. */
struct fx_output fx_muxplan_fsize(long fsize, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Start the command without waiting (one at a time); fx_muxplan_wait() collects it as fx_muxplan
 * does (a command killed by signal s has status 128 + s). */
pid_t fx_muxplan_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct fx_output fx_muxplan_wait(pid_t pid);

/* The entries of dir (. and .. aside) whose name contains fragment (any when NULL); 0 when dir
 * does not exist. */
size_t fx_count_entries(const char *dir, const char *fragment);
/* Whether anything (a file, a folder, a FIFO, a link) is at path. */
bool fx_exists(const char *path);

/* Expect rc == code with a recorded error message (mx_error_message) that contains fragment. */
void fx_expect_error(int rc, int code, const char *fragment);

/* Whether a GPU is visible to this process, and what a CUDA call that cannot run here says (no
 * GPU, or no CUDA in this build). Tests that need one, or its absence, skip themselves. */
bool fx_have_gpu(void);
const char *fx_gpu_unavailable(void);
#define FX_SKIP_WITHOUT_GPU()                                                                      \
    do {                                                                                           \
        if (!fx_have_gpu())                                                                        \
            cr_skip_test("no GPU is visible");                                                     \
    } while (0)
#define FX_SKIP_WITH_GPU()                                                                         \
    do {                                                                                           \
        if (fx_have_gpu())                                                                         \
            cr_skip_test("a GPU is visible");                                                      \
    } while (0)

/* Whether two files exist and have the same bytes. */
bool fx_same_file(const char *a, const char *b);

/* A bad input: run the command line, expect exit status 2, an error starting "muxplan: " that
 * contains every fragment (NULL-terminated), and no file at output (when output is not NULL). */
void fx_expect_bad(const char *output, const char *const *fragments, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
