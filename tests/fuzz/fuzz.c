/* The fuzz harness of fuzz.h: the input file, the verdict, the fixed cluster and profile, imports,
 * and (FUZZ_REGRESSION) the replay of kept inputs as Criterion tests. */
#include "fuzz.h"

#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"
#include "spec_cluster.h"
#include "spec_profile.h"
#include "wl_import_int.h"
#include "wl_trace.h"

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Recorded before each run: a run that fails and leaves it recorded fails without a message. */
static const char unset_message[] = "fuzz: no message recorded";

static char dir[256];       /* the temporary folder */
static char input_path[512]; /* the input file in it */

/* Remove the folder and whatever the targets wrote into it (the input, fixed inputs). */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    while (d && (entry = readdir(d)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            snprintf(input_path, sizeof(input_path), "%s/%s", dir, entry->d_name);
            unlink(input_path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

const char *fuzz_path(const char *file_name)
{
    static char named[512];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/muxplan-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: cannot make a temporary folder");
            abort();
        }
        atexit(remove_dir);
        /* HDF5 prints its error stack unless told not to; mx_h5.c does the same. */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    }
    snprintf(named, sizeof(named), "%s/%s", dir, file_name);
    return named;
}

const char *fuzz_run(const char *file_name, fuzz_reader read, int variants, const uint8_t *data,
                     size_t size)
{
    static char verdict[2600];
    snprintf(input_path, sizeof(input_path), "%s", fuzz_path(file_name));
    FILE *fp = fopen(input_path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        perror("fuzz: cannot write the input file");
        abort();
    }
    for (int v = 0; v < variants; v++) {
        mx_error(MX_EIO, "%s", unset_message);
        int rc = read(input_path, v);
        const char *message = mx_error_message();
        ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
        if (open_objects != 0)
            snprintf(verdict, sizeof(verdict), "variant %d left %zd HDF5 objects open", v,
                     open_objects);
        else if (rc == MX_OK)
            continue;
        else if (rc != MX_EINPUT && rc != MX_EUSAGE && rc != MX_EIO)
            snprintf(verdict, sizeof(verdict), "variant %d returned %d, not an mx_err code", v, rc);
        else if (strcmp(message, unset_message) == 0)
            snprintf(verdict, sizeof(verdict), "variant %d returned %s without a message", v,
                     mx_strerror(rc));
        else if (!strstr(message, input_path))
            snprintf(verdict, sizeof(verdict),
                     "variant %d returned %s with a message that does not name the file: %s", v,
                     mx_strerror(rc), message);
        else
            continue;
        return verdict;
    }
    return NULL;
}

const struct spec_profile *fuzz_profile(void)
{
    static struct spec_profile *db;
    if (!db && spec_profile_load(MX_SOURCE_ROOT "/data/profiles/" FUZZ_PROFILE_NAME, &db) < 0) {
        fprintf(stderr, "fuzz: %s\n", mx_error_message());
        abort();
    }
    return db;
}

const struct spec_cluster *fuzz_cluster(void)
{
    static struct spec_cluster cluster;
    static bool loaded;
    if (!loaded && spec_cluster_read(MX_SOURCE_ROOT "/examples/" FUZZ_CLUSTER_NAME, &cluster) < 0) {
        fprintf(stderr, "fuzz: %s\n", mx_error_message());
        abort();
    }
    loaded = true;
    return &cluster;
}

/* The most requests a rate trace may generate here. */
#define RATE_TRACE_REQUESTS 1e5

/* The requests a rate trace would generate, by its own reader; NAN when it does not read. */
static double rate_trace_requests(const char *path, const struct wl_import_spec *spec)
{
    struct wl_source src = {0};
    wl__arrivals_init(&src.arrivals);
    wl__windows_init(&src.windows);
    const struct wl_token_columns none = {0};
    int rc = strcmp(spec->format, "servegen") == 0 ? wl__read_servegen(path, spec, &none, &src)
                                                    : wl__read_counts(path, spec, &none, &src);
    double expected = 0;
    for (size_t i = 0; i < src.windows.n; i++)
        expected += src.windows.w[i].rate * src.windows.w[i].length_s;
    wl__arrivals_release(&src.arrivals);
    wl__windows_release(&src.windows);
    return rc == MX_OK ? expected : NAN;
}

int fuzz_import(const char *path, struct wl_import_spec spec)
{
    struct wl_trace *trace = NULL;
    struct wl_import_report report;
    spec.slo_s = 1;
    spec.seed = 1;
    if (strcmp(spec.format, "servegen") == 0 || strcmp(spec.format, "azure-functions") == 0) {
        double expected = rate_trace_requests(path, &spec);
        if (isfinite(expected) && expected > RATE_TRACE_REQUESTS)
            spec.rate_scale = RATE_TRACE_REQUESTS / expected;
        mx_error(MX_EIO, "%s", unset_message);
    }
    int rc = wl_import(path, &spec, &trace, &report);
    if (rc == MX_OK)
        wl_trace_free(trace);
    return rc;
}

#ifdef FUZZ_REGRESSION
static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *read_whole(const char *file, size_t *size)
{
    FILE *fp = fopen(file, "rb");
    cr_assert(fp, "cannot open %s", file);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    uint8_t *data = mx_malloc_array((size_t)n + 1, 1);
    cr_assert(fread(data, 1, (size_t)n, fp) == (size_t)n, "cannot read %s", file);
    fclose(fp);
    *size = (size_t)n;
    return data;
}

/* Replay the files of folder (none when it does not exist), in name order; returns how many. */
static size_t replay_folder(const char *folder, const char *file_name, fuzz_reader read,
                            int variants)
{
    DIR *d = opendir(folder);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (entry->d_name[0] == '.')
            continue;
        names = mx_realloc_array(names, n + 1, sizeof(char *));
        names[n++] = mx_strdup(entry->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), compare_names);
    for (size_t i = 0; i < n; i++) {
        char *file = mx_strfmt("%s/%s", folder, names[i]);
        size_t size;
        uint8_t *data = read_whole(file, &size);
        const char *verdict = fuzz_run(file_name, read, variants, data, size);
        cr_expect(verdict == NULL, "%s: %s", file, verdict);
        free(data);
        free(file);
        free(names[i]);
    }
    free(names);
    return n;
}

void fuzz_replay(const char *name, const char *file_name, fuzz_reader read, int variants)
{
    char *regressions = mx_strfmt("%s/tests/fuzz/regressions/%s", MX_SOURCE_ROOT, name);
    char *corpus = mx_strfmt("%s/tests/fuzz/corpus/%s", MX_SOURCE_ROOT, name);
    replay_folder(regressions, file_name, read, variants);
    size_t seeds = replay_folder(corpus, file_name, read, variants);
    cr_expect(seeds > 0, "%s holds no input", corpus);
    free(regressions);
    free(corpus);
}
#else
void fuzz_check(const char *name, const char *verdict)
{
    if (!verdict)
        return;
    fprintf(stderr, "fuzz_%s: %s\n", name, verdict);
    abort();
}
#endif
