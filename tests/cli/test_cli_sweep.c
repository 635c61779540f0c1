/* muxplan sweep: a tiny sweep's table, plans and plots; the same results on a rerun and across
 * two MPI ranks (planning_s aside); bad specs; its outputs all or none (SIGINT, a full disk, a late
 * error), a rerun replacing a previous sweep's outputs as a whole and nothing else. */
#include "fixture.h"

#include "mx_config.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A spec on the bundled example: duration_s of traffic, sweeping sweep, with policies. */
static const char *spec_file(const char *dir, const char *name, int duration_s, const char *sweep,
                             const char *policies)
{
    const char *path = fx_path(dir, name);
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"%s\", \"profile\": \"%s\", "
             "\"models\": \"%s\", \"workload\": {\"generate\": {\"total_rate\": 20, "
             "\"rate_dist\": \"power:0.5\", \"cv\": 4, \"duration_s\": %d}}, "
             "\"sweep\": %s, \"policies\": %s, \"seed\": 3}",
             fx_source_path("examples/cluster.json"),
             fx_source_path("data/profiles/v100-reference.h5"),
             fx_source_path("examples/models.json"), duration_s, sweep, policies);
    fx_write_file(path, text);
    return path;
}

/* 2 device counts x 2 policies, one minute of traffic. */
static const char *tiny_spec(const char *dir)
{
    return spec_file(dir, "sweep.json", 60, "{\"devices\": [4, 8]}", "[\"sr\", \"alpaserve\"]");
}

/* 48 cases x 2 policies of ten minutes: seconds of work, long enough to interrupt. */
static const char *long_spec(const char *dir)
{
    return spec_file(
        dir, "long.json", 600,
        "{\"rate_scale\": [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25], "
        "\"slo_scale\": [1, 2, 3, 4]}",
        "[\"sr\", \"alpaserve\"]");
}

/* results.tsv without its planning_s column (the 12th). */
static char *without_timing(const char *path)
{
    char *text = fx_read_file(path, NULL);
    cr_assert(text, "%s", path);
    size_t len = strlen(text), j = 0;
    char *out = malloc(len + 1);
    int column = 1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' || text[i] == '\t') {
            if (column != 12)
                out[j++] = text[i];
            column = text[i] == '\n' ? 1 : column + 1;
            continue;
        }
        if (column != 12)
            out[j++] = text[i];
    }
    out[j] = '\0';
    free(text);
    return out;
}

Test(sweep_cli, tiny_sweep_table_plans_and_plots)
{
    const char *dir = fx_tmpdir(), *spec = tiny_spec(dir), *out = fx_path(dir, "out");
    struct fx_output o = fx_muxplan("sweep %s -o %s", spec, out);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.err, "2 cases x 2 policies"), "%s", o.err);
    char *table = fx_read_file(fx_path(out, "results.tsv"), NULL);
    cr_assert(table);
    cr_assert(strncmp(table, "case\tpolicy\tdevices\trate_scale\tcv_scale\tslo_scale\tattainment",
                      60) == 0);
    int lines = 0;
    for (char *c = table; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 5, "a header and 4 rows");
    cr_assert(strstr(table, "\n0\tsr\t4\t1\t1\t1\t"), "%s", table);
    cr_assert(strstr(table, "\n1\talpaserve\t8\t"), "%s", table);
    cr_assert(strstr(table, "plans/case-1-alpaserve.json"));
    free(table);
    static const char *const files[] = {"results.h5",
                                        "plans/case-0-sr.json",
                                        "plans/case-1-alpaserve.json",
                                        "attainment_vs_devices.png",
                                        "attainment_vs_devices.svg",
                                        "attainment_vs_devices.tsv"};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char *bytes = fx_read_file(fx_path(out, files[f]), NULL);
        cr_assert(bytes, "%s", files[f]);
        free(bytes);
    }
    /* A rerun gives the same table, timing aside. */
    const char *again = fx_path(dir, "again");
    o = fx_muxplan("sweep %s -o %s --threads 2", spec, again);
    cr_assert_eq(o.status, 0, "%s", o.err);
    char *a = without_timing(fx_path(out, "results.tsv")),
         *b = without_timing(fx_path(again, "results.tsv"));
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

Test(sweep_cli, two_mpi_ranks_give_the_same_results)
{
    if (!MX_HAVE_MPI || system("command -v mpirun > /dev/null 2>&1") != 0)
        cr_skip_test("built without MPI, or no mpirun");
    const char *dir = fx_tmpdir(), *spec = tiny_spec(dir);
    const char *one = fx_path(dir, "one"), *two = fx_path(dir, "two");
    struct fx_output o = fx_muxplan("sweep %s -o %s", spec, one);
    cr_assert_eq(o.status, 0, "%s", o.err);
    /* Open MPI's own allocations are not ours to check for leaks. */
    char command[4096];
    snprintf(command, sizeof(command),
             "ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -n 2 %s "
             "sweep %s -o %s > %s 2>&1",
             getenv("MUXPLAN_BIN"), spec, two, fx_path(dir, "mpirun.log"));
    int status = system(command);
    char *log = fx_read_file(fx_path(dir, "mpirun.log"), NULL);
    cr_assert_eq(status, 0, "mpirun: %s", log ? log : "");
    free(log);
    char *a = without_timing(fx_path(one, "results.tsv")),
         *b = without_timing(fx_path(two, "results.tsv"));
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    cr_assert(
        fx_same_file(fx_path(one, "plans/case-1-sr.json"), fx_path(two, "plans/case-1-sr.json")));
}

Test(sweep_cli, bad_specs_exit_2_and_name_the_member)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "bad.json"), *out = fx_path(dir, "out");
    static const struct {
        const char *tail;
        const char *fragment;
    } cases[] = {
        {"\"sweep\": {\"devices\": [4, 8.5]}, \"policies\": [\"sr\"]}",
         "bad.json: sweep.devices[1]: expected a whole number of devices"},
        {"\"sweep\": {\"threads\": [1]}, \"policies\": [\"sr\"]}",
         "bad.json: sweep: unknown member \"threads\""},
        {"\"sweep\": {}, \"policies\": [\"sr\"]}", "bad.json: sweep: sweep nothing"},
        {"\"sweep\": {\"rate_scale\": [1]}, \"policies\": [\"magic\"]}",
         "bad.json: policies[0]: unknown policy \"magic\""},
        {"\"sweep\": {\"rate_scale\": [1]}, \"policies\": [\"sr\", \"alpaserve\", \"sr\"]}",
         "bad.json: policies[2]: \"sr\" is listed twice"},
        {"\"sweep\": {\"cv_scale\": [1, 50]}, \"policies\": [\"sr\"]}",
         "bad.json: sweep.cv_scale[1]: the workload's cv 4 times 50 is 200, outside [0.01, 100]"},
    };
    /* One grammar for rate distributions, the command line's. */
    static const struct {
        const char *dist;
        const char *fragment;
    } dists[] = {
        {"power:abc", "generate.rate_dist: expected equal, power or power:ALPHA (ALPHA in [0, "
                      "99]), got \"power:abc\""},
        {"power:-1", "got \"power:-1\""},
        {"power:nan", "got \"power:nan\""},
        {"power:1e9", "got \"power:1e9\""},
        {"power:0x10", "got \"power:0x10\""},
        {"explicit", "got \"explicit\""},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]) + sizeof(dists) / sizeof(dists[0]);
         c++) {
        char text[1024];
        bool dist = c >= sizeof(cases) / sizeof(cases[0]);
        size_t d = dist ? c - sizeof(cases) / sizeof(cases[0]) : 0;
        snprintf(text, sizeof(text),
                 "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"c.json\", \"profile\": "
                 "\"p.h5\", \"models\": \"m.json\", \"workload\": {\"generate\": "
                 "{\"total_rate\": 1, \"cv\": 4, \"duration_s\": 10, \"rate_dist\": \"%s\"}}, "
                 "%s",
                 dist ? dists[d].dist : "power",
                 dist ? "\"sweep\": {\"rate_scale\": [1]}, "
                        "\"policies\": [\"sr\"]}"
                      : cases[c].tail);
        fx_write_file(path, text);
        fx_expect_bad(fx_path(out, "results.tsv"),
                      (const char *const[]){dist ? dists[d].fragment : cases[c].fragment, NULL},
                      "sweep %s -o %s", path, out);
    }
}

/* Start a long sweep into out, wait for its first plan (still under a temporary name: the outputs
 * appear together at the end), interrupt it and expect it to die of SIGINT. */
static void interrupt_long_sweep(const char *dir, const char *out)
{
    pid_t pid = fx_muxplan_start("sweep %s -o %s", long_spec(dir), out);
    const char *plans = fx_path(out, "plans");
    for (int k = 0; k < 60000 && fx_count_entries(plans, ".tmp.") == 0; k++)
        usleep(500);
    cr_assert_gt(fx_count_entries(plans, ".tmp."), 0, "no plan after 30 s");
    cr_assert_eq(kill(pid, SIGINT), 0);
    struct fx_output o = fx_muxplan_wait(pid);
    cr_assert_eq(o.status, 128 + SIGINT, "status %d (finished before the signal?): %s", o.status,
                 o.err);
}

Test(sweep_cli, an_interrupted_sweep_leaves_nothing)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "out");
    interrupt_long_sweep(dir, out);
    cr_assert(!fx_exists(out), "the folder it made is gone: %zu entries left",
              fx_count_entries(out, NULL));
}

Test(sweep_cli, a_full_disk_or_a_late_error_leaves_nothing)
{
    const char *dir = fx_tmpdir(), *spec = tiny_spec(dir), *out = fx_path(dir, "out");
    struct fx_output o = fx_muxplan_fsize(1024, "sweep %s -o %s", spec, out);
    cr_assert_eq(o.status, 1, "%s", o.err);
    cr_assert(strstr(o.err, ": cannot write: File too large\n"), "%s", o.err);
    cr_assert_eq(strchr(o.err, '\n'), o.err + strlen(o.err) - 1, "one line: %s", o.err);
    cr_assert(!fx_exists(out), "%zu entries left", fx_count_entries(out, NULL));
    /* An input found missing after the spec was read and the folder made. */
    const char *late = fx_path(dir, "late.json");
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"%s\", \"profile\": \"%s\", "
             "\"models\": \"%s\", \"workload\": {\"trace\": {\"train\": \"absent.h5\"}}, "
             "\"sweep\": {\"devices\": [4, 8]}, \"policies\": [\"sr\"]}",
             fx_source_path("examples/cluster.json"),
             fx_source_path("data/profiles/v100-reference.h5"),
             fx_source_path("examples/models.json"));
    fx_write_file(late, text);
    fx_expect_bad(out, (const char *const[]){"absent.h5: cannot open", NULL}, "sweep %s -o %s",
                  late, out);
    cr_assert(!fx_exists(out));
}

Test(sweep_cli, a_rerun_replaces_a_previous_sweep_whole_and_nothing_else)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "out");
    const char *table = fx_path(out, "results.tsv"), *saved = fx_path(dir, "saved.tsv");
    struct fx_output o = fx_muxplan("sweep %s -o %s", tiny_spec(dir), out);
    cr_assert_eq(o.status, 0, "%s", o.err);
    char *text = fx_read_file(table, NULL);
    fx_write_file(saved, text);
    free(text);
    /* Interrupted: the previous outputs stay as they were, and nothing is added. */
    interrupt_long_sweep(dir, out);
    cr_assert(fx_same_file(table, saved));
    cr_assert_eq(fx_count_entries(fx_path(out, "plans"), NULL), 4);
    cr_assert_eq(fx_count_entries(out, NULL), 6, "table, HDF5, three plot files and plans/");
    /* Done: the new outputs replace the previous ones as a whole (no plan or plot of the previous
     * sweep stays). */
    const char *one = spec_file(dir, "one.json", 60, "{\"rate_scale\": [1, 2]}", "[\"sr\"]");
    o = fx_muxplan("sweep %s -o %s", one, out);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_eq(fx_count_entries(fx_path(out, "plans"), NULL), 2);
    cr_assert(fx_exists(fx_path(out, "plans/case-1-sr.json")));
    cr_assert(!fx_exists(fx_path(out, "attainment_vs_devices.png")));
    cr_assert(fx_exists(fx_path(out, "attainment_vs_rate_scale.png")));
    cr_assert_eq(fx_count_entries(out, NULL), 6);
    /* A folder holding anything else is refused before any work and left as it is. */
    fx_write_file(fx_path(out, "notes.txt"), "mine");
    text = fx_read_file(table, NULL);
    fx_write_file(saved, text);
    free(text);
    o = fx_muxplan("sweep %s -o %s", tiny_spec(dir), out);
    cr_assert_eq(o.status, 2, "%s", o.err);
    cr_assert(strstr(o.err, "notes.txt, which is not a sweep's output"), "%s", o.err);
    cr_assert(fx_same_file(table, saved));
    cr_assert(fx_exists(fx_path(out, "notes.txt")));
    cr_assert_eq(fx_count_entries(out, NULL), 7);
}

/* Device counts a case may have are those of its cluster: whole nodes, or at most one; checked
 * before any case runs. */
Test(sweep_cli, device_counts_fill_nodes)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "s.json"), *out = fx_path(dir, "out");
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"%s\", \"profile\": \"%s\", "
             "\"models\": \"%s\", \"workload\": {\"generate\": {\"total_rate\": 10, "
             "\"duration_s\": 60}}, \"sweep\": {\"devices\": [4, 8, 12]}, \"policies\": "
             "[\"sr\"]}",
             fx_source_path("examples/experiments/cluster-64.json"),
             fx_source_path("data/profiles/v100-reference.h5"),
             fx_source_path("examples/models.json"));
    fx_write_file(path, text);
    fx_expect_bad(fx_path(out, "results.tsv"),
                  (const char *const[]){"s.json: sweep.devices[2]: 12 devices do not fill whole "
                                        "nodes of 8",
                                        NULL},
                  "sweep %s -o %s", path, out);
}
