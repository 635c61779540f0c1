/* Builders for in-memory test inputs and a runner for the muxplan binary. */
#include "fixture.h"

#include "cu_prof.h"
#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct spec_cluster fx_cluster(uint32_t devices, uint32_t per_node)
{
    struct spec_cluster c;
    spec_cluster_defaults(&c);
    c.devices = devices;
    c.devices_per_node = per_node;
    c.mem_budget_bytes = INT64_C(1) << 40;
    return c;
}

void fx_profile_add_batches(struct spec_profile *db, const char *base, int op, int pp,
                            uint32_t n_batches, const int32_t *batch, const double *latency_s,
                            int64_t weight_bytes)
{
    const struct spec_profile_model *m = spec_profile_find_model(db, base);
    uint32_t index = 0;
    if (m)
        index = (uint32_t)(m - spec_profile_model(db, 0));
    else
        index = spec_profile_add_model(db, base);
    int64_t *weights = MX_NEW_ARRAY(int64_t, (size_t)pp);
    for (int k = 0; k < pp; k++)
        weights[k] = weight_bytes;
    struct spec_config cfg = {.dp = 1,
                              .op = op,
                              .pp = pp,
                              .n_batches = n_batches,
                              .batch = (int32_t *)batch,
                              .stage_latency_s = (double *)latency_s,
                              .weight_bytes = weights};
    int rc = spec_profile_add_config(db, index, &cfg, "fixture");
    free(weights);
    cr_assert_eq(rc, MX_OK, "fixture profile: %s", mx_error_message());
}

void fx_profile_add(struct spec_profile *db, const char *base, int op, int pp,
                    const double *latency_s, int64_t weight_bytes)
{
    static const int32_t one[1] = {1};
    fx_profile_add_batches(db, base, op, pp, 1, one, latency_s, weight_bytes);
}

struct spec_plan *fx_plan_new(uint32_t n_models, const char *const *bases)
{
    struct spec_plan *p = MX_NEW(struct spec_plan);
    p->path = mx_strdup("fixture-plan");
    p->extra = json_object();
    p->static_form = 1;
    p->n_models = n_models;
    p->models = MX_NEW_ARRAY(struct spec_plan_model, n_models);
    for (uint32_t m = 0; m < n_models; m++) {
        p->models[m].name = mx_strfmt("m%u", m);
        p->models[m].base = mx_strdup(bases[m]);
    }
    p->n_segments = 1;
    p->segments = MX_NEW(struct spec_plan_segment);
    return p;
}

void fx_plan_add_segment(struct spec_plan *p, double start_s)
{
    p->static_form = 0;
    p->segments =
        mx_realloc_array(p->segments, p->n_segments + 1, sizeof(struct spec_plan_segment));
    memset(&p->segments[p->n_segments], 0, sizeof(struct spec_plan_segment));
    p->segments[p->n_segments++].start_s = start_s;
}

int32_t fx_plan_add_group(struct spec_plan *p, int op, int pp, uint32_t first_device, uint32_t n,
                          const uint32_t *models)
{
    struct spec_plan_segment *s = &p->segments[p->n_segments - 1];
    s->groups = mx_realloc_array(s->groups, s->n_groups + 1, sizeof(struct spec_plan_group));
    struct spec_plan_group *g = &s->groups[s->n_groups];
    memset(g, 0, sizeof(*g));
    g->id = (int32_t)s->n_groups;
    g->dp = 1;
    g->op = op;
    g->pp = pp;
    g->n_devices = (uint32_t)(op * pp);
    g->devices = MX_NEW_ARRAY(uint32_t, g->n_devices);
    for (uint32_t d = 0; d < g->n_devices; d++)
        g->devices[d] = first_device + d;
    g->n_models = n;
    g->models = MX_NEW_ARRAY(uint32_t, n ? n : 1);
    memcpy(g->models, models, n * sizeof(uint32_t));
    g->load_s = 0;
    g->scheduler = spec_scheduler_default();
    s->n_groups++;
    return g->id;
}

struct wl_trace *fx_trace(size_t n, const double *arrival_s, const int32_t *model,
                          const double *slo_s, uint32_t n_models)
{
    char **names = MX_NEW_ARRAY(char *, n_models);
    for (uint32_t m = 0; m < n_models; m++)
        names[m] = mx_strfmt("m%u", m);
    struct wl_trace *t = wl_trace_new(n, n_models, (const char *const *)names);
    for (uint32_t m = 0; m < n_models; m++)
        free(names[m]);
    free(names);
    memcpy(t->arrival_s, arrival_s, n * sizeof(double));
    memcpy(t->model, model, n * sizeof(int32_t));
    memcpy(t->slo_s, slo_s, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const char *field, *problem = wl_trace_request_problem(t, i, &field);
        cr_assert_null(problem, "fixture trace request %zu: %s: %s", i, field, problem);
    }
    t->start_s = n ? arrival_s[0] : 0;
    t->duration_s = n ? arrival_s[n - 1] - arrival_s[0] : 0;
    return t;
}

struct sim_results *fx_run(const struct spec_cluster *c, const struct spec_profile *db,
                           const struct spec_plan *p, const struct wl_trace *t,
                           const struct sim_options *o, struct sim_world **world_out)
{
    struct sim_world *w = NULL;
    struct sim_results *r = NULL;
    int rc = sim_world_new(c, "fixture-cluster", db, "fixture-profile", p, t, &w);
    cr_assert_eq(rc, MX_OK, "sim_world_new: %s", mx_error_message());
    rc = sim_run(w, o, &r);
    cr_assert_eq(rc, MX_OK, "sim_run: %s", mx_error_message());
    if (world_out)
        *world_out = w;
    else
        sim_world_free(w);
    return r;
}

const char *fx_source_path(const char *relative)
{
    static char buf[32][1024];
    static int next;
    const char *root = getenv("MUXPLAN_SOURCE_ROOT");
    cr_assert(root, "MUXPLAN_SOURCE_ROOT is not set");
    char *out = buf[next++ % 32];
    snprintf(out, sizeof(buf[0]), "%s/%s", root, relative);
    return out;
}

const char *fx_tmpdir(void)
{
    static char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/muxplan-test-XXXXXX", base ? base : "/tmp");
    cr_assert(mkdtemp(dir), "cannot create a temporary directory");
    return dir;
}

const char *fx_path(const char *dir, const char *name)
{
    static char buf[32][1024];
    static int next;
    char *out = buf[next++ % 32];
    snprintf(out, sizeof(buf[0]), "%s/%s", dir, name);
    return out;
}

void fx_write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    cr_assert(fp, "cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

char *fx_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *data = mx_calloc((size_t)size + 1, 1);
    size_t got = fread(data, 1, (size_t)size, fp);
    fclose(fp);
    if (len)
        *len = got;
    return data;
}

static char *captured_out, *captured_err;
static char out_path[64], err_path[64];

/* Fork and exec the binary on the command line args (split on spaces), its stdout and stderr into
 * fresh files, its file size limited to fsize bytes when fsize > 0. */
static pid_t spawn(long fsize, char *args)
{
    const char *bin = getenv("MUXPLAN_BIN");
    cr_assert(bin, "MUXPLAN_BIN is not set");
    char *argv[128];
    int argc = 0;
    argv[argc++] = (char *)bin;
    for (char *tok = strtok(args, " "); tok && argc < 127; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    snprintf(out_path, sizeof(out_path), "/tmp/muxplan-out-XXXXXX");
    snprintf(err_path, sizeof(err_path), "/tmp/muxplan-err-XXXXXX");
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        if (fsize > 0) {
            struct rlimit limit = {(rlim_t)fsize, (rlim_t)fsize};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &limit);
        }
        execv(bin, argv);
        _exit(127);
    }
    close(out_fd);
    close(err_fd);
    return pid;
}

/* Wait for pid and capture what it printed. */
static struct fx_output collect(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    free(captured_out);
    free(captured_err);
    captured_out = fx_read_file(out_path, NULL);
    captured_err = fx_read_file(err_path, NULL);
    unlink(out_path);
    unlink(err_path);
    struct fx_output o = {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                          captured_out, captured_err};
    /* Under the sanitizers, whatever they report fails the test that ran the command. */
    for (const char *const *r = (const char *const[]){"runtime error:", "ERROR: AddressSanitizer",
                                                      "ERROR: LeakSanitizer", NULL};
         *r; r++)
        cr_assert_null(strstr(captured_err ? captured_err : "", *r), "%s", captured_err);
    return o;
}

struct fx_output fx_muxplan(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return collect(spawn(0, args));
}

struct fx_output fx_muxplan_fsize(long fsize, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return collect(spawn(fsize, args));
}

pid_t fx_muxplan_start(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return spawn(0, args);
}

struct fx_output fx_muxplan_wait(pid_t pid)
{
    return collect(pid);
}

size_t fx_count_entries(const char *dir, const char *fragment)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            (!fragment || strstr(e->d_name, fragment)))
            n++;
    closedir(d);
    return n;
}

bool fx_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool fx_same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = fx_read_file(a, &la), *y = fx_read_file(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

void fx_expect_bad(const char *output, const char *const *fragments, const char *fmt, ...)
{
    char command[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof(command), fmt, ap);
    va_end(ap);
    struct fx_output o = fx_muxplan("%s", command);
    cr_assert_eq(o.status, 2, "%s: status %d: %s", command, o.status, o.err);
    cr_assert(strncmp(o.err, "muxplan: ", 9) == 0, "%s", o.err);
    for (const char *const *f = fragments; *f; f++)
        cr_assert(strstr(o.err, *f), "%s: expected \"%s\" in: %s", command, *f, o.err);
    if (output) {
        char *left = fx_read_file(output, NULL);
        cr_assert_null(left, "%s left %s behind", command, output);
    }
}

void fx_expect_error(int rc, int code, const char *fragment)
{
    cr_assert_eq(rc, code, "rc %d, expected %d (%s)", rc, code, mx_error_message());
    cr_assert(strstr(mx_error_message(), fragment), "message \"%s\" lacks \"%s\"",
              mx_error_message(), fragment);
}

bool fx_have_gpu(void)
{
    return cu_prof_device_count() > 0;
}

const char *fx_gpu_unavailable(void)
{
    return MX_HAVE_CUDA ? "no GPU is visible" : "built without CUDA";
}
