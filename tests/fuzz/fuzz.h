/* The fuzz targets' harness (docs/testing.md has how to run them).
 *
 * Each fuzz_<name>.c is one target: a reader of a path and FUZZ_TARGET(name, file, read, variants).
 * The bytes under test go into a file named file in a temporary folder (the readers take paths),
 * then read(path, v) runs for each variant v in [0, variants) (one set of reader options each).
 * Every run must be clean: read returns MX_OK, or a negative mx_err code with a message recorded
 * by that run that names the file; read frees whatever the reader returned, and no HDF5 object
 * stays open. Sanitizer reports, leaks, crashes and aborts (an MX_BUG) are findings too.
 *
 * Built with -Dfuzz=true (clang; tools/fuzz), FUZZ_TARGET defines libFuzzer's entry point, which
 * aborts on a verdict other than clean so that libFuzzer keeps the input. Built with
 * -DFUZZ_REGRESSION (the test fuzz-regressions of the normal builds), it defines one Criterion
 * test per target that replays every input of tests/fuzz/regressions/<name>/ and
 * tests/fuzz/corpus/<name>/ through the same code. */
#ifndef FUZZ_H
#define FUZZ_H

#include "wl_import.h"

#include <stddef.h>
#include <stdint.h>

struct spec_cluster;
struct spec_profile;

/* Read the file at path with the reader options of variant (0 for targets of one variant). */
typedef int (*fuzz_reader)(const char *path, int variant);

/* Write data[size] to a file named file_name and run read over every variant: NULL when each run
 * is clean, else what went wrong (valid until the next call). */
const char *fuzz_run(const char *file_name, fuzz_reader read, int variants, const uint8_t *data,
                     size_t size);

/* The path of a file named file_name in the harness's temporary folder (made on first use and
 * removed at exit); valid until the next call. */
const char *fuzz_path(const char *file_name);

/* What readers' results are checked against: data/profiles/v100-reference.json and
 * examples/cluster.json, loaded once (their paths in messages: FUZZ_PROFILE_NAME, ...). */
#define FUZZ_PROFILE_NAME "v100-reference.json"
#define FUZZ_CLUSTER_NAME "cluster.json"
const struct spec_profile *fuzz_profile(void);
const struct spec_cluster *fuzz_cluster(void);

/* wl_import() of path with spec, every request with a 1 s SLO, seed 1; frees the trace. A rate
 * trace (azure-functions, servegen) that would generate more than 100000 requests is imported
 * with its rate scaled down to that many: large traces are valid input, and the fuzzer's memory
 * limit is not the reader's. */
int fuzz_import(const char *path, struct wl_import_spec spec);

/* Turn the bytes of the file at path into an HDF5 file at the same path, built with HDF5's own API
 * so that the file is well formed and the reader's checks, not the HDF5 library, are under test.
 * The bytes are a program: a flags byte (bit 0: give the root the attribute format =
 * "muxplan-KIND/1"), then operations of a few bytes each: make a group, a dataset (an element
 * type, 0 to 2 dimensions of 0 to 7, values from tables of edge cases) or an attribute (a scalar or
 * a short array), each named from names[] under a group made before. fuzz_h5_built.c has the
 * encoding. MX_OK, or MX_EIO naming path when HDF5 cannot make the file. */
int fuzz_h5_build(const char *path, const char *kind, const char *const *names, size_t n_names);

#ifdef FUZZ_REGRESSION
#include <criterion/criterion.h>

/* Replay every file of tests/fuzz/regressions/<name>/ and tests/fuzz/corpus/<name>/. */
void fuzz_replay(const char *name, const char *file_name, fuzz_reader read, int variants);

#define FUZZ_TARGET(name, file_name, read, variants)                                               \
    Test(fuzz_regressions, name) { fuzz_replay(#name, (file_name), (read), (variants)); }
#else
/* Print the verdict and abort when there is one. */
void fuzz_check(const char *name, const char *verdict);

#define FUZZ_TARGET(name, file_name, read, variants)                                               \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        fuzz_check(#name, fuzz_run((file_name), (read), (variants), data, size));                  \
        return 0;                                                                                  \
    }
#endif

#endif
