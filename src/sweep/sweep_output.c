/* Writing a sweep's results: the TSV table, the same columns in HDF5, and one plot per swept
 * parameter. */
#include "sweep.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_h5.h"
#include "mx_plot.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The attainment the plots mark. */
#define SWEEP_TARGET_ATTAINMENT 0.99

/* The numeric columns, in table order after case and policy. */
#define N_NUMBERS 10
static const char *const number_names[N_NUMBERS] = {
    "devices", "rate_scale", "cv_scale", "slo_scale", "attainment", "predicted_attainment",
    "p50_s",   "p90_s",      "p99_s",    "planning_s"};

static void row_numbers(const struct sweep_row *r, double v[N_NUMBERS])
{
    for (int p = 0; p < SWEEP_PARAMS; p++)
        v[p] = r->params[p];
    v[4] = r->attainment;
    v[5] = r->predicted_attainment;
    v[6] = r->p50_s;
    v[7] = r->p90_s;
    v[8] = r->p99_s;
    v[9] = r->planning_s;
}

static int write_tsv(const struct sweep_spec *s, const struct sweep_row *rows, size_t n,
                     const char *path)
{
    struct mx_out out;
    char number[32];
    int rc = mx_out_begin(path, true, &out);
    if (rc < 0)
        return rc;
    fputs("case\tpolicy", out.fp);
    for (int k = 0; k < N_NUMBERS; k++)
        fprintf(out.fp, "\t%s", number_names[k]);
    fputs("\tgroups\treplicas\tconfigs\tplan\n", out.fp);
    for (size_t i = 0; i < n; i++) {
        const struct sweep_row *r = &rows[i];
        double v[N_NUMBERS];
        row_numbers(r, v);
        fprintf(out.fp, "%u\t%s", r->case_index, s->policies[r->policy]);
        for (int k = 0; k < N_NUMBERS; k++) {
            mx_format_f64(number, v[k]);
            fprintf(out.fp, "\t%s", isfinite(v[k]) ? number : "NaN");
        }
        fprintf(out.fp, "\t%u\t%u\t%s\t%s\n", r->groups, r->replicas, r->describe, r->plan_file);
    }
    return mx_out_commit(&out);
}

static int write_h5(const struct sweep_spec *s, const struct sweep_row *rows, size_t n,
                    const char *path)
{
    struct mx_h5 h;
    int rc = mx_h5_create(path, "sweep-results", 1, &h);
    if (rc < 0)
        return rc;
    int32_t *ints = mx_malloc_array(n ? n : 1, sizeof(int32_t));
    double *column = mx_malloc_array(n ? n : 1, sizeof(double));
    const char **text = mx_malloc_array(n ? n : 1, sizeof(char *));
    size_t dims[2] = {n, 0};
    for (size_t i = 0; i < n; i++)
        ints[i] = (int32_t)rows[i].case_index;
    rc = mx_h5_write(&h, "/case", MX_H5_I32, 1, dims, ints);
    for (size_t i = 0; i < n; i++)
        ints[i] = (int32_t)rows[i].policy;
    if (rc == MX_OK)
        rc = mx_h5_write(&h, "/policy", MX_H5_I32, 1, dims, ints);
    if (rc == MX_OK)
        rc = mx_h5_write_strings(&h, "/policy_names", s->n_policies,
                                 (const char *const *)s->policies);
    for (int k = 0; rc == MX_OK && k < N_NUMBERS; k++) {
        for (size_t i = 0; i < n; i++) {
            double v[N_NUMBERS];
            row_numbers(&rows[i], v);
            column[i] = v[k];
        }
        char *dataset = mx_strfmt("/%s", number_names[k]);
        rc = mx_h5_write(&h, dataset, MX_H5_F64, 1, dims, column);
        free(dataset);
    }
    for (size_t i = 0; i < n; i++)
        ints[i] = (int32_t)rows[i].replicas;
    if (rc == MX_OK)
        rc = mx_h5_write(&h, "/replicas", MX_H5_I32, 1, dims, ints);
    for (size_t i = 0; i < n; i++)
        text[i] = rows[i].describe;
    if (rc == MX_OK)
        rc = mx_h5_write_strings(&h, "/configs", n, text);
    for (size_t i = 0; i < n; i++)
        text[i] = rows[i].plan_file;
    if (rc == MX_OK)
        rc = mx_h5_write_strings(&h, "/plan", n, text);
    if (rc == MX_OK)
        rc = mx_h5_attr_write_str(&h, "/", "spec", s->path);
    free(text);
    free(column);
    free(ints);
    if (rc == MX_OK)
        return mx_h5_close(&h);
    mx_h5_abort(&h);
    return rc;
}

/* Whether row r has every swept parameter but k at its first value. */
static bool on_axis(const struct sweep_spec *s, const struct sweep_row *r, uint32_t k)
{
    for (uint32_t j = 0; j < s->n_swept; j++)
        if (j != k && r->params[s->swept[j]] != s->values[j][0])
            return false;
    return true;
}

static int plot_param(const struct sweep_spec *s, const struct sweep_row *rows, size_t n,
                      uint32_t k, const char *dir)
{
    uint32_t points = s->n_values[k];
    double *y = mx_malloc_array((size_t)points * s->n_policies, sizeof(double));
    struct mx_plot_series *series = MX_NEW_ARRAY(struct mx_plot_series, s->n_policies);
    for (size_t i = 0; i < (size_t)points * s->n_policies; i++)
        y[i] = NAN;
    for (size_t i = 0; i < n; i++) {
        if (!on_axis(s, &rows[i], k))
            continue;
        for (uint32_t v = 0; v < points; v++)
            if (rows[i].params[s->swept[k]] == s->values[k][v])
                y[(size_t)rows[i].policy * points + v] = rows[i].attainment;
    }
    for (uint32_t p = 0; p < s->n_policies; p++)
        series[p] = (struct mx_plot_series){s->policies[p], y + (size_t)p * points};
    const char *name = sweep_param_names[s->swept[k]];
    char title[96], stem[64];
    snprintf(title, sizeof(title), "SLO attainment against %s", name);
    snprintf(stem, sizeof(stem), "attainment_vs_%s", name);
    struct mx_plot plot = {.title = title,
                           .x_label = name,
                           .y_label = "SLO attainment",
                           .points = true,
                           .n_points = points,
                           .x = s->values[k],
                           .n_series = s->n_policies,
                           .series = series,
                           .hline = SWEEP_TARGET_ATTAINMENT};
    int rc = mx_plot_write(&plot, dir, stem);
    free(series);
    free(y);
    return rc;
}

int sweep_write(const struct sweep_spec *s, const struct sweep_row *rows, const char *out_dir)
{
    size_t n = (size_t)sweep_case_count(s) * s->n_policies;
    char *tsv = mx_strfmt("%s/results.tsv", out_dir), *h5 = mx_strfmt("%s/results.h5", out_dir);
    int rc = write_tsv(s, rows, n, tsv);
    if (rc == MX_OK)
        rc = write_h5(s, rows, n, h5);
    for (uint32_t k = 0; rc == MX_OK && k < s->n_swept; k++)
        rc = plot_param(s, rows, n, k, out_dir);
    free(tsv);
    free(h5);
    return rc;
}

/* Whether name is one of a sweep's files in its output folder (plans: in plans/), or the
 * temporary of one (".NAME.tmp.XXXXXX", left by a run that was killed). */
static bool is_sweep_file(const char *name, bool plans)
{
    size_t len = strlen(name);
    if (name[0] == '.') {
        const char *tmp = strstr(name, ".tmp.");
        if (!tmp || strlen(tmp) != strlen(".tmp.XXXXXX"))
            return false;
        char *inner = mx_strfmt("%.*s", (int)(tmp - name - 1), name + 1);
        bool ours = inner[0] != '.' && is_sweep_file(inner, plans);
        free(inner);
        return ours;
    }
    if (plans) {
        /* case-<c>-<policy>.json */
        size_t digits = strncmp(name, "case-", 5) == 0 ? strspn(name + 5, "0123456789") : 0;
        return digits > 0 && name[5 + digits] == '-' && len > 5 + digits + 1 + 5 &&
               strcmp(name + len - 5, ".json") == 0;
    }
    if (strcmp(name, "results.tsv") == 0 || strcmp(name, "results.h5") == 0)
        return true;
    for (int k = 0; k < SWEEP_PARAMS; k++)
        for (int e = 0; e < 3; e++) {
            static const char *const ext[3] = {"png", "svg", "tsv"};
            char plot[64];
            snprintf(plot, sizeof(plot), "attainment_vs_%s.%s", sweep_param_names[k], ext[e]);
            if (strcmp(name, plot) == 0)
                return true;
        }
    return false;
}

/* Register every file of dir (plans: the plans/ folder) as a previous sweep's output for the
 * output set to replace; anything that is not is MX_EUSAGE naming it. */
static int take_previous(const char *out_dir, const char *dir, bool plans)
{
    DIR *d = opendir(dir);
    if (!d)
        return mx_error(MX_EUSAGE, "%s: cannot read the folder: %s", dir, strerror(errno));
    int rc = MX_OK;
    struct dirent *e;
    while (rc == MX_OK && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *path = mx_strfmt("%s/%s", dir, e->d_name);
        struct stat st;
        bool is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        bool is_file = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!plans && is_dir && strcmp(e->d_name, "plans") == 0)
            rc = take_previous(out_dir, path, true);
        else if (is_file && is_sweep_file(e->d_name, plans))
            mx_outset_replace(path);
        else
            rc = mx_error(MX_EUSAGE,
                          "%s: holds %s, which is not a sweep's output; give a new or empty "
                          "folder (a sweep replaces a previous sweep's outputs, nothing else)",
                          out_dir, path);
        free(path);
    }
    closedir(d);
    return rc;
}

int sweep_output_prepare(const char *out_dir)
{
    int rc = mx_outset_dir(out_dir);
    char *plans = mx_strfmt("%s/plans", out_dir);
    if (rc == MX_OK)
        rc = take_previous(out_dir, out_dir, false);
    if (rc == MX_OK)
        rc = mx_outset_dir(plans);
    free(plans);
    return rc;
}
