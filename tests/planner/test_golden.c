/* Golden plans: on small cases, each policy plans exactly what AlpaServe's own code plans
 * (tests/planner/golden/README.md says how the expected plans were made and checked). A change in
 * the search's semantics or a drop in its quality shows as a group with other devices, another
 * config or other models. */
#include "fixture.h"
#include "mx_error.h"
#include "spec_plan.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The command-line arguments that reproduce what AlpaServe ran for expected-<name>.json:
 * "<policy>[-beamK]"; its round robin has groups of 4 and its clockwork++ windows of 30 s. */
static void policy_arguments(const char *name, char *out, size_t size)
{
    char policy[128];
    snprintf(policy, sizeof(policy), "%s", name);
    const char *beam = "1";
    char *suffix = strstr(policy, "-beam");
    if (suffix) {
        *suffix = '\0';
        beam = suffix + 5;
    }
    snprintf(out, size, "--policy %s --beam %s%s%s", policy, beam,
             strcmp(policy, "round-robin") == 0 ? " --group-size 4" : "",
             strcmp(policy, "clockwork++") == 0 ? " --window 30" : "");
    if (strcmp(policy, "round-robin") == 0) /* round robin has no beam */
        snprintf(out, size, "--policy round-robin --group-size 4");
}

static struct spec_plan *read_plan(const char *path)
{
    struct spec_plan *p = NULL;
    cr_assert_eq(spec_plan_read(path, &p), MX_OK, "%s", mx_error_message());
    return p;
}

/* Same segments, and in each the same groups in the same order: config, devices, model names. */
static void expect_same_groups(const struct spec_plan *want, const struct spec_plan *got,
                               const char *what)
{
    cr_assert_eq(got->n_segments, want->n_segments, "%s: %u segments, expected %u", what,
                 got->n_segments, want->n_segments);
    for (uint32_t s = 0; s < want->n_segments; s++) {
        const struct spec_plan_segment *a = &want->segments[s], *b = &got->segments[s];
        cr_assert_eq(b->n_groups, a->n_groups, "%s: segment %u: %u groups, expected %u", what, s,
                     b->n_groups, a->n_groups);
        for (uint32_t g = 0; g < a->n_groups; g++) {
            const struct spec_plan_group *x = &a->groups[g], *y = &b->groups[g];
            cr_assert(x->op == y->op && x->pp == y->pp && x->n_devices == y->n_devices &&
                          x->n_models == y->n_models,
                      "%s: segment %u group %u: (1,%d,%d) with %u models, expected (1,%d,%d) "
                      "with %u",
                      what, s, g, y->op, y->pp, y->n_models, x->op, x->pp, x->n_models);
            for (uint32_t d = 0; d < x->n_devices; d++)
                cr_assert_eq(y->devices[d], x->devices[d], "%s: segment %u group %u: devices", what,
                             s, g);
            for (uint32_t m = 0; m < x->n_models; m++)
                cr_assert_str_eq(got->models[y->models[m]].name, want->models[x->models[m]].name,
                                 "%s: segment %u group %u: models", what, s, g);
        }
    }
}

Test(golden, every_policy_plans_what_alpaserve_plans)
{
    const char *root = fx_source_path("tests/planner/golden");
    const char *out_dir = fx_tmpdir();
    DIR *cases = opendir(root);
    cr_assert_not_null(cases, "%s", root);
    unsigned compared = 0;
    struct dirent *c;
    while ((c = readdir(cases))) {
        char dir[2048];
        snprintf(dir, sizeof(dir), "%s/%s", root, c->d_name);
        DIR *files = c->d_name[0] == '.' ? NULL : opendir(dir);
        struct dirent *f;
        while (files && (f = readdir(files))) {
            size_t len = strlen(f->d_name);
            if (strncmp(f->d_name, "expected-", 9) != 0 || len < 14 ||
                strcmp(f->d_name + len - 5, ".json") != 0)
                continue;
            char name[128], args[256], what[512];
            snprintf(name, sizeof(name), "%.*s", (int)(len - 14), f->d_name + 9);
            policy_arguments(name, args, sizeof(args));
            snprintf(what, sizeof(what), "%s %s", c->d_name, name);
            const char *got = fx_path(out_dir, "plan.json");
            struct fx_output o = fx_muxplan(
                "plan --cluster %s/cluster.json --profile %s --models %s/models.json "
                "--trace %s/trace.h5 %s -o %s",
                dir, fx_source_path("data/profiles/v100-reference.h5"), dir, dir, args, got);
            cr_assert_eq(o.status, 0, "%s: %s", what, o.err);
            struct spec_plan *want = read_plan(fx_path(dir, f->d_name));
            struct spec_plan *plan = read_plan(got);
            expect_same_groups(want, plan, what);
            spec_plan_free(want);
            spec_plan_free(plan);
            compared++;
        }
        if (files)
            closedir(files);
    }
    closedir(cases);
    cr_assert_geq(compared, 30, "only %u golden plans", compared);
}
