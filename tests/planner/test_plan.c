/* src/planner: plan files (static and scheduled), their round trip, and validation against a
 * cluster and a profile, including the memory budget at its edge. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "spec_cluster.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const char plan_text[] =
    "{\"format\": \"muxplan-plan/1\", \"policy\": \"hand\",\n"
    " \"models\": [{\"name\": \"m0\", \"base\": \"a\"}, {\"name\": \"m1\", \"base\": \"a\"}],\n"
    " \"groups\": [{\"id\": 3, \"devices\": [0, 1], \"dp\": 1, \"op\": 1, \"pp\": 2, \"models\": "
    "[\"m0\", {\"name\": \"m1\", \"weight_bytes\": 7}]},\n"
    "            {\"id\": 5, \"devices\": [2], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": "
    "[\"m1\"], \"scheduler\": {\"max_seqs\": 8, \"policy\": \"fcfs\"}, \"kv_pool_bytes\": "
    "1024}]}\n";

static struct spec_profile *profile(int64_t weight_bytes)
{
    struct spec_profile *db = spec_profile_new("test");
    fx_profile_add(db, "a", 1, 1, (double[]){0.1}, 2 * weight_bytes);
    fx_profile_add(db, "a", 1, 2, (double[]){0.05, 0.05}, weight_bytes);
    fx_profile_add(db, "a", 2, 1, (double[]){0.06}, weight_bytes);
    return db;
}

Test(plan, read_write_round_trip)
{
    const char *dir = fx_tmpdir();
    fx_write_file(fx_path(dir, "p.json"), plan_text);
    struct spec_plan *p = NULL, *back = NULL;
    cr_assert_eq(spec_plan_read(fx_path(dir, "p.json"), &p), MX_OK, "%s", mx_error_message());
    cr_assert_eq(p->n_segments, 1);
    cr_assert_eq(p->segments[0].n_groups, 2);
    cr_assert_eq(p->segments[0].groups[0].id, 3);
    cr_assert_eq(p->segments[0].groups[0].models[1], 1);
    cr_assert_str_eq(json_string_value(json_object_get(p->extra, "policy")), "hand");
    cr_assert_eq(spec_plan_write(p, fx_path(dir, "back.json")), MX_OK);
    cr_assert_eq(spec_plan_read(fx_path(dir, "back.json"), &back), MX_OK);
    cr_assert_eq(back->segments[0].groups[1].devices[0], 2);
    cr_assert_str_eq(json_string_value(json_object_get(back->extra, "policy")), "hand");
    const struct spec_plan_group *g0 = &back->segments[0].groups[0],
                                 *g1 = &back->segments[0].groups[1];
    cr_assert_not(g0->has_scheduler);
    cr_assert_eq(g0->scheduler.max_batch_tokens, SPEC_DEFAULT_MAX_BATCH_TOKENS);
    cr_assert(g1->has_scheduler);
    cr_assert_eq(g1->scheduler.max_seqs, 8);
    cr_assert_eq(g1->scheduler.max_batch_tokens, SPEC_DEFAULT_MAX_BATCH_TOKENS);
    cr_assert_eq(g1->scheduler.policy, SPEC_MM_FCFS);
    cr_assert_eq(json_integer_value(json_object_get(g1->info, "kv_pool_bytes")), 1024);
    spec_plan_free(p);
    spec_plan_free(back);
}

Test(plan, schedule_round_trip)
{
    const char *dir = fx_tmpdir();
    fx_write_file(
        fx_path(dir, "s.json"),
        "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
        "\"a\"}],\n \"schedule\": [{\"start_s\": 0, \"groups\": [{\"id\": 0, \"devices\": "
        "[0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"m0\"]}]},\n {\"start_s\": 60, "
        "\"groups\": [{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, "
        "\"models\": [], \"load_s\": 0.375}]}]}");
    struct spec_plan *p = NULL, *back = NULL;
    cr_assert_eq(spec_plan_read(fx_path(dir, "s.json"), &p), MX_OK, "%s", mx_error_message());
    cr_assert_eq(p->n_segments, 2);
    cr_assert_eq(p->segments[1].start_s, 60);
    cr_assert_eq(p->segments[0].groups[0].load_s, 0, "load_s defaults to 0");
    cr_assert_eq(p->segments[1].groups[0].load_s, 0.375);
    cr_assert_eq(spec_plan_write(p, fx_path(dir, "back.json")), MX_OK);
    cr_assert_eq(spec_plan_read(fx_path(dir, "back.json"), &back), MX_OK);
    cr_assert_eq(back->n_segments, 2);
    cr_assert_not(back->static_form);
    cr_assert_eq(back->segments[1].groups[0].load_s, 0.375);
    spec_plan_free(p);
    spec_plan_free(back);
}

struct bad_plan {
    const char *groups;
    const char *message;
};

Test(plan, structural_errors_name_the_member)
{
    static const struct bad_plan cases[] = {
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 2, \"models\": [\"m0\"]}]",
         "groups[0].devices: 1 devices, but the config (1, 1, 2) needs 2"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"zz\"]}]",
         "groups[0].models[0]: model \"zz\" is not in the plan's \"models\""},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"m0\", "
         "\"m0\"]}]",
         "groups[0].models[1]: model \"m0\" is on this group twice"},
        {"[{\"id\": 0, \"devices\": [1, 1], \"dp\": 1, \"op\": 1, \"pp\": 2, \"models\": []}]",
         "groups[0].devices: device 1 appears twice"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": []}, "
         "{\"id\": "
         "0, \"devices\": [1], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": []}]",
         "groups[1].id: group id 0 appears twice"},
        {"[{\"id\": 0, \"devices\": [-1], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": []}]",
         "groups[0].devices[0]: -1 is out of range"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1}]",
         "groups[0]: missing member \"models\""},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [], "
         "\"load_s\": -1}]",
         "groups[0].load_s: -1 is out of range"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [], "
         "\"scheduler\": {\"policy\": \"edf\"}}]",
         "groups[0].scheduler.policy: unknown \"edf\" (expected slack, round-robin or fcfs)"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [], "
         "\"scheduler\": {\"max_batch_tokens\": 0}}]",
         "groups[0].scheduler.max_batch_tokens: 0 is out of range"},
        {"[{\"id\": 0, \"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [], "
         "\"scheduler\": {\"max_seq\": 3}}]",
         "groups[0].scheduler: unknown member \"max_seq\""},
    };
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.json");
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *text = mx_strfmt("{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", "
                               "\"base\": \"a\"}], \"groups\": %s}",
                               cases[k].groups);
        fx_write_file(path, text);
        free(text);
        struct spec_plan *p = NULL;
        cr_assert_eq(spec_plan_read(path, &p), MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
        cr_assert_null(p);
    }
    fx_write_file(path,
                  "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"a\"}], \"schedule\": [{\"start_s\": 5, \"groups\": []}, {\"start_s\": 5, "
                  "\"groups\": []}]}");
    struct spec_plan *p = NULL;
    cr_assert_eq(spec_plan_read(path, &p), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "schedule[1].start_s: start times must increase"), "%s",
              mx_error_message());
    fx_write_file(path,
                  "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"m0\", \"base\": "
                  "\"a\"}]}");
    cr_assert_eq(spec_plan_read(path, &p), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "give exactly one of \"groups\" and \"schedule\""));
}

/* Validate a one-group plan built in memory against a cluster of 4 devices, 2 per node. */
static int validate_group(int op, int pp, uint32_t first, int dp, int64_t budget, int64_t weight,
                          const char *base)
{
    const char *bases[2] = {base, base};
    struct spec_plan *p = fx_plan_new(2, bases);
    fx_plan_add_group(p, op, pp, first, 2, (uint32_t[]){0, 1});
    p->segments[0].groups[0].dp = dp;
    struct spec_cluster c = fx_cluster(4, 2);
    c.mem_budget_bytes = budget;
    struct spec_profile *db = profile(weight);
    int rc = spec_plan_validate(p, &c, "c.json", db, "db.h5");
    spec_profile_free(db);
    spec_plan_free(p);
    return rc;
}

Test(plan, validation_against_cluster_and_profile)
{
    cr_assert_eq(validate_group(1, 2, 0, 1, 100, 50, "a"), MX_OK);
    /* Memory at the budget's edge: two models of 50 bytes per device fit 100, not 99. */
    cr_assert_eq(validate_group(1, 2, 0, 1, 99, 50, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "fixture-plan: groups[0] (id 0): its 2 models need 100 "
                                         "bytes per device, over the budget of 99 bytes (cluster "
                                         "c.json)"),
              "%s", mx_error_message());
    cr_assert_eq(validate_group(1, 2, 3, 1, 100, 1, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "device 4 does not exist (cluster c.json has 4)"), "%s",
              mx_error_message());
    cr_assert_eq(validate_group(2, 1, 1, 1, 100, 1, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "stage 0 spans devices 1 and 2 on different nodes"), "%s",
              mx_error_message());
    cr_assert_eq(validate_group(2, 1, 2, 1, 100, 1, "a"), MX_OK, "%s", mx_error_message());
    cr_assert_eq(validate_group(1, 4, 0, 1, 100, 1, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "profile db.h5 has no config (1, 1, 4) for base \"a\""),
              "%s", mx_error_message());
    cr_assert_eq(validate_group(1, 1, 0, 2, 100, 1, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "dp is 2; plans use dp = 1"), "%s", mx_error_message());
    /* Huge weights cannot wrap the sum below the budget. */
    cr_assert_eq(validate_group(1, 2, 0, 1, 1000, INT64_C(1) << 49, "a"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "need 1125899906842624 bytes per device"), "%s",
              mx_error_message());
    /* A load time out of range, as a plan built in memory may have. */
    const char *bases[1] = {"a"};
    struct spec_plan *p = fx_plan_new(1, bases);
    fx_plan_add_group(p, 1, 1, 0, 1, (uint32_t[]){0});
    p->segments[0].groups[0].load_s = 2e6;
    struct spec_cluster c = fx_cluster(4, 2);
    struct spec_profile *db = profile(1);
    cr_assert_eq(spec_plan_validate(p, &c, "c.json", db, "db.h5"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "groups[0] (id 0): load_s 2e+06 is outside [0, 1e+06]"),
              "%s", mx_error_message());
    spec_profile_free(db);
    spec_plan_free(p);
    cr_assert_eq(validate_group(1, 1, 0, 1, 100, 1, "nope"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "models[0]: base \"nope\" (of model \"m0\") is not in "
                                         "profile db.h5"),
              "%s", mx_error_message());
}

Test(plan, groups_of_one_segment_may_not_share_devices)
{
    static const char *const bases[1] = {"a"};
    struct spec_plan *p = fx_plan_new(1, bases);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    fx_plan_add_group(p, 1, 1, 1, 1, (uint32_t[]){0});
    struct spec_cluster c = fx_cluster(4, 4);
    struct spec_profile *db = profile(1);
    cr_assert_eq(spec_plan_validate(p, &c, "c.json", db, "db.h5"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "device 1 is also in group id 0"), "%s",
              mx_error_message());
    /* The same devices in another segment are fine. */
    spec_plan_free(p);
    p = fx_plan_new(1, bases);
    fx_plan_add_group(p, 1, 2, 0, 1, (uint32_t[]){0});
    fx_plan_add_segment(p, 10);
    fx_plan_add_group(p, 1, 1, 1, 1, (uint32_t[]){0});
    cr_assert_eq(spec_plan_validate(p, &c, "c.json", db, "db.h5"), MX_OK, "%s", mx_error_message());
    spec_plan_free(p);
    spec_profile_free(db);
}

Test(cluster, reads_presets_overrides_and_rejects_bad_specs)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "c.json");
    struct spec_cluster c;
    fx_write_file(path,
                  "{\"format\": \"muxplan-cluster/1\", \"devices\": 16, \"devices_per_node\": "
                  "8, \"mem_budget_bytes\": 13958643712, \"overheads\": {\"preset\": "
                  "\"alpaserve\", \"fixed\": 0.006, \"exec\": {\"mean\": 0.001, \"sd\": 0}}}");
    cr_assert_eq(spec_cluster_read(path, &c), MX_OK, "%s", mx_error_message());
    cr_assert_eq(c.devices, 16);
    cr_assert_eq(c.mem_budget_bytes, 13958643712);
    cr_assert_float_eq(c.overheads.term[SPEC_OH_CLIENT].sd_s, 0.0005, 1e-15, "from the preset");
    cr_assert_float_eq(c.overheads.term[SPEC_OH_FIXED].mean_s, 0.006, 1e-15, "overridden");
    cr_assert_float_eq(c.overheads.term[SPEC_OH_EXEC].sd_s, 0, 1e-15);
    const char *out = fx_path(dir, "out.json");
    cr_assert_eq(spec_cluster_write(&c, out), MX_OK);
    struct spec_cluster back;
    cr_assert_eq(spec_cluster_read(out, &back), MX_OK, "%s", mx_error_message());
    cr_assert_eq(memcmp(&back.overheads.term, &c.overheads.term, sizeof(c.overheads.term)), 0);
    cr_assert_eq(back.decoder.block_tokens, SPEC_DEFAULT_BLOCK_TOKENS, "decoder defaults");
    cr_assert_eq(back.decoder.dispatch, SPEC_LLM_LEAST_TOKENS);

    static const struct bad_plan cases[] = {
        {"\"devices\": 0, \"devices_per_node\": 8, \"mem_budget_bytes\": 1",
         "devices: 0 is out of range"},
        {"\"devices\": 12, \"devices_per_node\": 8, \"mem_budget_bytes\": 1",
         "devices: 12 devices do not fill whole nodes of 8"},
        {"\"devices\": 8, \"devices_per_node\": 8", "missing member \"mem_budget_bytes\""},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"overheads\": "
         "{\"preset\": \"fastest\"}",
         "overheads.preset: unknown preset \"fastest\""},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"overheads\": "
         "{\"client\": -0.1}",
         "overheads.client: -0.10000000000000001 is out of range"},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"overheads\": "
         "{\"client\": {\"mean\": 0.1}}",
         "overheads.client: missing member \"sd\""},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"gpus\": 3",
         "unknown member \"gpus\""},
        {"\"devices\": \"8\", \"devices_per_node\": 8, \"mem_budget_bytes\": 1",
         "devices: expected an integer, got a string"},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"decoder\": "
         "{\"dispatch\": \"random\"}",
         "decoder.dispatch: unknown \"random\" (expected least-tokens, least-kv, round-robin or "
         "best-ttft)"},
        {"\"devices\": 8, \"devices_per_node\": 8, \"mem_budget_bytes\": 1, \"decoder\": "
         "{\"block_tokens\": 0}",
         "decoder.block_tokens: 0 is out of range"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *text = mx_strfmt("{\"format\": \"muxplan-cluster/1\", %s}", cases[k].groups);
        fx_write_file(path, text);
        free(text);
        cr_assert_eq(spec_cluster_read(path, &c), MX_EINPUT, "case %zu", k);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert(strstr(mx_error_message(), cases[k].message), "case %zu: %s", k,
                  mx_error_message());
    }
}
