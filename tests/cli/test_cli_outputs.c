/* Every writer of the command line, at an output that must not be replaced or cannot be written:
 * a FIFO or a device is refused (status 2) and stays; an output that is an input, through any
 * link, is refused (status 2) and the input stays; a full disk is one line naming the file (status
 * 1) and leaves nothing; "-" is standard output for text; a missing output folder is made one
 * level deep, and refused (status 2, nothing made) when its parent is missing too. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROFILE "data/profiles/v100-reference.h5"

/* The inputs of every writer, in one temporary folder. */
struct inputs {
    const char *dir;
    char trace[1024], csv[1024], profile_json[1024], profile_h5[1024];
};

static struct inputs make_inputs(void)
{
    struct inputs in = {.dir = fx_tmpdir()};
    snprintf(in.trace, sizeof(in.trace), "%s", fx_path(in.dir, "t.h5"));
    snprintf(in.csv, sizeof(in.csv), "%s", fx_path(in.dir, "t.csv"));
    snprintf(in.profile_json, sizeof(in.profile_json), "%s", fx_path(in.dir, "p.json"));
    snprintf(in.profile_h5, sizeof(in.profile_h5), "%s", fx_path(in.dir, "p.h5"));
    struct fx_output o =
        fx_muxplan("trace gen --models %s --profile %s --total-rate 30 "
                   "--duration 30 --seed 1 -o %s",
                   fx_source_path("examples/models.json"), fx_source_path(PROFILE), in.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("trace export csv %s -o %s", in.trace, in.csv);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("profile export %s -o %s", fx_source_path(PROFILE), in.profile_json);
    cr_assert_eq(o.status, 0, "%s", o.err);
    o = fx_muxplan("profile import %s -o %s", in.profile_json, in.profile_h5);
    cr_assert_eq(o.status, 0, "%s", o.err);
    return in;
}

enum { N_WRITERS = 7 };

/* Writer k's command line writing out (the HDF5 writers first: k < 4). */
static void writer(const struct inputs *in, int k, const char *out, char *cmd, size_t size)
{
    const char *models = fx_source_path("examples/models.json");
    const char *cluster = fx_source_path("examples/cluster.json");
    const char *profile = fx_source_path(PROFILE);
    switch (k) {
    case 0:
        snprintf(cmd, size,
                 "trace gen --models %s --profile %s --total-rate 30 --duration 30 -o %s", models,
                 profile, out);
        break;
    case 1:
        snprintf(cmd, size, "trace import csv %s -o %s", in->csv, out);
        break;
    case 2:
        snprintf(cmd, size, "profile import %s -o %s", in->profile_json, out);
        break;
    case 3:
        snprintf(cmd, size,
                 "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s",
                 cluster, profile, fx_source_path("examples/plan-pipeline.json"), in->trace, out);
        break;
    case 4:
        snprintf(cmd, size, "trace export csv %s -o %s", in->trace, out);
        break;
    case 5:
        snprintf(cmd, size, "profile export %s -o %s", in->profile_h5, out);
        break;
    default:
        snprintf(cmd, size,
                 "plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s", cluster,
                 profile, models, in->trace, out);
    }
}

static bool is_node(const char *path, char c)
{
    struct stat st;
    return lstat(path, &st) == 0 && (c == 'p' ? S_ISFIFO(st.st_mode) : S_ISCHR(st.st_mode));
}

Test(outputs_cli, every_writer_refuses_a_fifo_or_a_device)
{
    struct inputs in = make_inputs();
    const char *fifo = fx_path(in.dir, "fifo"), *dev = fx_path(in.dir, "null");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    /* Root can make a device node (like /dev/null) here; others check the FIFO only. */
    bool have_dev = geteuid() == 0 && mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0;
    for (int node = 0; node < 1 + have_dev; node++) {
        const char *out = node ? dev : fifo;
        for (int k = 0; k < N_WRITERS; k++) {
            char cmd[4096], expect[1100];
            writer(&in, k, out, cmd, sizeof(cmd));
            struct fx_output o = fx_muxplan("%s", cmd);
            snprintf(expect, sizeof(expect), "muxplan: %s: exists and is not a regular file", out);
            cr_assert_eq(o.status, 2, "%s: status %d: %s", cmd, o.status, o.err);
            cr_assert(strncmp(o.err, expect, strlen(expect)) == 0, "%s: %s", cmd, o.err);
            cr_assert(is_node(out, node ? 'c' : 'p'), "%s replaced %s", cmd, out);
        }
    }
    cr_assert_eq(fx_count_entries(in.dir, ".tmp."), 0);
}

/* Run cmd, expect status 2 and fragment, and input unchanged (its bytes were saved in before). */
static void expect_input_kept(const char *input, const char *before, const char *fragment,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void expect_input_kept(const char *input, const char *before, const char *fragment,
                              const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct fx_output o = fx_muxplan("%s", cmd);
    cr_assert_eq(o.status, 2, "%s: status %d: %s", cmd, o.status, o.err);
    cr_assert(strstr(o.err, fragment), "%s: expected \"%s\" in: %s", cmd, fragment, o.err);
    cr_assert(fx_same_file(input, before), "%s changed %s", cmd, input);
}

Test(outputs_cli, an_output_equal_to_an_input_is_refused_through_any_link)
{
    struct inputs in = make_inputs();
    const char *soft = fx_path(in.dir, "soft.h5"), *hard = fx_path(in.dir, "hard.h5");
    char *bytes;
    size_t len;
    /* A copy of each input, to compare with afterwards. */
    const char *const kept[3] = {in.trace, in.profile_h5, in.csv};
    for (int k = 0; k < 3; k++) {
        bytes = fx_read_file(kept[k], &len);
        FILE *fp = fopen(fx_path(in.dir, k == 0 ? "copy.t" : k == 1 ? "copy.p" : "copy.c"), "wb");
        fwrite(bytes, 1, len, fp);
        fclose(fp);
        free(bytes);
    }
    const char *t_copy = fx_path(in.dir, "copy.t"), *p_copy = fx_path(in.dir, "copy.p");
    const char *c_copy = fx_path(in.dir, "copy.c");
    expect_input_kept(in.trace, t_copy, "t.h5: is an input of this command",
                      "trace export csv %s -o %s", in.trace, in.trace);
    expect_input_kept(in.profile_h5, p_copy, "p.h5: is an input of this command",
                      "profile export %s -o %s", in.profile_h5, in.profile_h5);
    expect_input_kept(in.csv, c_copy, "t.csv: is an input of this command",
                      "trace import csv %s -o %s", in.csv, in.csv);
    cr_assert_eq(symlink(in.trace, soft), 0);
    cr_assert_eq(link(in.profile_h5, hard), 0);
    expect_input_kept(in.trace, t_copy, "soft.h5: is the same file as", "trace export csv %s -o %s",
                      in.trace, soft);
    expect_input_kept(in.profile_h5, p_copy, "hard.h5: is the same file as",
                      "profile export %s -o %s", in.profile_h5, hard);
    expect_input_kept(in.trace, t_copy, "t.h5: is an input of this command",
                      "simulate --cluster %s --profile %s --plan %s --trace %s --requests-out %s",
                      fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                      fx_source_path("examples/plan-pipeline.json"), in.trace, in.trace);
    expect_input_kept(in.trace, t_copy, "t.h5: is an input of this command",
                      "plan --cluster %s --profile %s --models %s --trace %s --policy sr -o %s",
                      fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                      fx_source_path("examples/models.json"), in.trace, in.trace);
    cr_assert_eq(fx_count_entries(in.dir, ".tmp."), 0);
}

Test(outputs_cli, a_full_disk_is_one_line_status_1_and_leaves_nothing)
{
    struct inputs in = make_inputs();
    const char *out = fx_path(in.dir, "out");
    for (int k = 0; k < N_WRITERS; k++) {
        char cmd[4096], expect[1100];
        writer(&in, k, out, cmd, sizeof(cmd));
        struct fx_output o = fx_muxplan_fsize(1024, "%s", cmd);
        snprintf(expect, sizeof(expect), "muxplan: %s: cannot write: File too large\n", out);
        cr_assert_eq(o.status, 1, "%s: status %d: %s", cmd, o.status, o.err);
        cr_assert_str_eq(o.err, expect, "%s", cmd);
        cr_assert(!fx_exists(out), "%s left %s", cmd, out);
        cr_assert_eq(fx_count_entries(in.dir, ".tmp."), 0, "%s left a temporary", cmd);
    }
}

Test(outputs_cli, dash_is_standard_output_for_text_outputs)
{
    struct inputs in = make_inputs();
    struct fx_output o = fx_muxplan("trace export csv %s -o -", in.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    char *csv = fx_read_file(in.csv, NULL);
    cr_assert_str_eq(o.out, csv, "the same text as the file");
    free(csv);
    o = fx_muxplan("profile export %s -o -", in.profile_h5);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"format\": \"muxplan-profile/1\""), "%.200s", o.out);
    o = fx_muxplan("plan --cluster %s --profile %s --models %s --trace %s --policy sr -o -",
                   fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                   fx_source_path("examples/models.json"), in.trace);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strncmp(o.out, "{\n  \"format\": \"muxplan-plan/1\"", 30) == 0, "%.200s", o.out);
    cr_assert(strstr(o.err, "sr: ") && strstr(o.err, "wrote -"), "the report on stderr: %s", o.err);
    /* HDF5 is not text: refused before any work. */
    for (int k = 0; k < 4; k++) {
        char cmd[4096];
        writer(&in, k, "-", cmd, sizeof(cmd));
        o = fx_muxplan("%s", cmd);
        cr_assert_eq(o.status, 2, "%s: %s", cmd, o.err);
        cr_assert(strstr(o.err, "muxplan: -: this output cannot go to standard output"), "%s: %s",
                  cmd, o.err);
        cr_assert_str_eq(o.out, "", "%s", cmd);
    }
    cr_assert(!fx_exists("-"));
}

/* Command k of those with an output folder, writing into dir. */
static void folder_command(int k, const char *spec, const struct inputs *in, const char *dir,
                           char *cmd, size_t size)
{
    if (k == 0)
        snprintf(cmd, size, "sweep %s -o %s", spec, dir);
    else if (k == 1)
        snprintf(cmd, size, "trace stats %s --plot %s", in->trace, dir);
    else if (k == 2)
        snprintf(cmd, size,
                 "compare --cluster %s --profile %s --models %s --trace %s --policies sr "
                 "--plans-dir %s",
                 fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                 fx_source_path("examples/models.json"), in->trace, dir);
    else
        snprintf(cmd, size,
                 "capacity --cluster %s --profile %s --models %s --trace %s --policy sr "
                 "--target 0.5 -o %s",
                 fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
                 fx_source_path("examples/models.json"), in->trace, dir);
}

/* Output folders: made one level deep; a missing parent is bad usage and nothing is made. */
Test(outputs_cli, a_missing_output_folder_is_made_one_level_deep)
{
    struct inputs in = make_inputs();
    const char *deep = fx_path(in.dir, "no/new");
    char spec[1100], text[4096];
    snprintf(spec, sizeof(spec), "%s", fx_path(in.dir, "sweep.json"));
    snprintf(text, sizeof(text),
             "{\"format\": \"muxplan-sweep/1\", \"cluster\": \"%s\", \"profile\": \"%s\", "
             "\"models\": \"%s\", \"workload\": {\"generate\": {\"total_rate\": 20, "
             "\"duration_s\": 30}}, \"sweep\": {\"devices\": [4]}, \"policies\": [\"sr\"]}",
             fx_source_path("examples/cluster.json"), fx_source_path(PROFILE),
             fx_source_path("examples/models.json"));
    fx_write_file(spec, text);
    const char *made[4] = {"sweep", "plots", "plans", "capacity"};
    for (int k = 0; k < 4; k++) {
        char cmd[8192], expect[1100];
        folder_command(k, spec, &in, deep, cmd, sizeof(cmd));
        snprintf(expect, sizeof(expect), "muxplan: %s: cannot create the folder: %s does not exist",
                 deep, fx_path(in.dir, "no"));
        struct fx_output o = fx_muxplan("%s", cmd);
        cr_assert_eq(o.status, 2, "%s: status %d: %s", cmd, o.status, o.err);
        cr_assert(strncmp(o.err, expect, strlen(expect)) == 0, "%s: %s", cmd, o.err);
        cr_assert_str_eq(o.out, "", "%s: nothing done before the check", cmd);
        cr_assert(!fx_exists(fx_path(in.dir, "no")));
        const char *one = fx_path(in.dir, made[k]);
        folder_command(k, spec, &in, one, cmd, sizeof(cmd));
        o = fx_muxplan("%s", cmd);
        cr_assert_eq(o.status, 0, "%s: %s", cmd, o.err);
        cr_assert_gt(fx_count_entries(one, NULL), 0, "%s", cmd);
    }
}
