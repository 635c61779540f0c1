/* Every writer of the command line, at an output that cannot be written: a full disk is one line
 * naming the file (status 1) and leaves nothing. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
