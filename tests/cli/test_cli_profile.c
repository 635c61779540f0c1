/* muxplan profile --backend from the command line: reproducible roofline DBs, bad options and
 * specs (status 2, the field named, nothing written), and a backend without its device. */
#include "fixture.h"
#include "mx_config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define V100 "data/hardware/v100-16gb.json"

Test(profile_cli, roofline_dbs_are_reproducible_and_read_back)
{
    const char *dir = fx_tmpdir(), *a = fx_path(dir, "a.h5"), *b = fx_path(dir, "b.h5");
    setenv("SOURCE_DATE_EPOCH", "1795651200", 1);
    for (int k = 0; k < 2; k++) {
        struct fx_output o = fx_muxplan(
            "profile --backend roofline --hardware %s --models bert-1.3b,moe-1.3b,tiny-2l-128 "
            "--batches 1,4 -o %s",
            fx_source_path(V100), k ? b : a);
        cr_assert_eq(o.status, 0, "%s", o.err);
        cr_assert(strstr(o.err, "wrote 3 models profiled by roofline on v100-16gb"), "%s", o.err);
    }
    cr_assert(fx_same_file(a, b));
    struct spec_profile *db = NULL;
    cr_assert_eq(spec_profile_load(a, &db), 0);
    /* bert-1.3b: op 1, 2, 4, 8 x pp 1, 2, 4, 8, 16 (24 layers); tiny-2l-128: op 1, 2, 4 x pp 1, 2.
     */
    cr_assert_eq(spec_profile_find_model(db, "bert-1.3b")->n_configs, 20);
    cr_assert_eq(spec_profile_find_model(db, "tiny-2l-128")->n_configs, 6);
    cr_assert_eq(spec_profile_find(db, "bert-1.3b", 1, 2, 4)->n_batches, 2);
    cr_assert(strstr(spec_profile_provenance(db), "\"backend\":\"roofline\""));
    cr_assert(strstr(spec_profile_provenance(db), "\"date\":\"2026-11-26T00:00:00Z\""));
    cr_assert(strstr(spec_profile_provenance(db), "\"attn_scores\""), "raw per-layer numbers");
    spec_profile_free(db);
    unsetenv("SOURCE_DATE_EPOCH");
}

Test(profile_cli, bad_options_and_specs_exit_2)
{
    const char *dir = fx_tmpdir(), *out = fx_path(dir, "p.h5"), *hw = fx_source_path(V100);
    fx_expect_bad(out, (const char *const[]){"--backend: expected roofline, cpu or cuda", NULL},
                  "profile --backend tpu --hardware %s --models bert-1.3b -o %s", hw, out);
    fx_expect_bad(out, (const char *const[]){"the roofline backend needs --hardware", NULL},
                  "profile --backend roofline --models bert-1.3b -o %s", out);
    fx_expect_bad(out, (const char *const[]){"no model \"bert-9t\" in the zoo", NULL},
                  "profile --backend roofline --hardware %s --models bert-9t -o %s", hw, out);
    fx_expect_bad(out, (const char *const[]){"bert-1.3b: --ops 3 does not divide heads", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b --ops 3 -o %s", hw,
                  out);
    fx_expect_bad(out, (const char *const[]){"--batches must start at 1", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b --batches 2,4 -o %s",
                  hw, out);
    const char *zoo = fx_path(dir, "zoo");
    cr_assert_eq(mkdir(zoo, 0755), 0);
    fx_write_file(fx_path(zoo, "m.json"),
                  "{\"format\": \"muxplan-arch/1\", \"name\": \"m\", \"kind\": \"encoder\", "
                  "\"seq\": 8, \"hidden\": 64, \"layers\": 0, \"heads\": 4, \"vocab\": 10}");
    fx_expect_bad(out, (const char *const[]){"m.json: layers: ", NULL},
                  "profile --backend roofline --hardware %s --zoo %s --models m -o %s", hw, zoo,
                  out);
    const char *bad_hw = fx_path(dir, "hw.json");
    fx_write_file(bad_hw, "{\"format\": \"muxplan-hardware/1\", \"name\": \"x\", \"device\": "
                          "{\"peak_flops\": 1e12, \"mem_bandwidth_bytes_per_s\": 1e11, "
                          "\"mem_bytes\": 1000000}, \"devices_per_node\": 8, \"links\": "
                          "{\"intra_node_bytes_per_s\": 1e9, \"intra_node_latency_s\": 0, "
                          "\"inter_node_bytes_per_s\": -5, \"inter_node_latency_s\": 0}}");
    fx_expect_bad(out, (const char *const[]){"hw.json: links.inter_node_bytes_per_s: ", NULL},
                  "profile --backend roofline --hardware %s --models bert-1.3b -o %s", bad_hw, out);
}

/* Without a GPU, or in a build without CUDA, the cuda backend says which. */
Test(profile_cli, cuda_without_a_gpu_says_so)
{
    FX_SKIP_WITH_GPU();
    const char *out = fx_path(fx_tmpdir(), "p.h5");
    fx_expect_bad(
        out, (const char *const[]){MX_HAVE_CUDA ? "no GPU is visible" : "built without CUDA", NULL},
        "profile --backend cuda --models tiny-2l-128 -o %s", out);
}

/* profile show lists a DB's hardware, provenance and, per model, its configs and batches; a file
 * that is not a profile is named. */
Test(profile_cli, show_says_what_a_db_holds)
{
    struct fx_output o = fx_muxplan("profile show %s", fx_source_path("data/profiles/v100.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    for (const char *const *f =
             (const char *const[]){"hardware v100-16gb", "backend: \"roofline\"",
                                   "op 1,2,4,8 x pp 1,2,4,8,16", "1,2,4,8,16", "bert-6.7b", NULL};
         *f; f++)
        cr_assert(strstr(o.out, *f), "no \"%s\" in:\n%s", *f, o.out);
    cr_assert_null(strstr(o.out, "raw"), "the raw per-layer numbers are left out:\n%s", o.out);
    o = fx_muxplan("profile show --json %s", fx_source_path("data/profiles/v100-reference.h5"));
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"single_device_latency_s\": 0.099"), "%s", o.out);
    const char *dir = fx_tmpdir(), *bad = fx_path(dir, "bad.h5");
    fx_write_file(bad, "not a profile\n");
    o = fx_muxplan("profile show %s", bad);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "bad.h5: not a profile DB: neither HDF5"), "%s", o.err);
    fx_write_file(bad, "");
    o = fx_muxplan("profile show %s", bad);
    cr_assert(strstr(o.err, "bad.h5: not a profile DB: the file is empty"), "%s", o.err);
}
