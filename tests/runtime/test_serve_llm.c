/* muxplan serve and fidelity with decoder plans: the bundled examples run through the command line
 * (short runs), every request accounted for on both sides of fidelity, Ctrl-C, and what is
 * refused. The profile is the roofline's (instant, and the runtime needs only some costs): the
 * tiny decoders then run slower than predicted, which these tests do not look at. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *example(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", fx_source_path("examples/runtime"), name);
    return b;
}

/* The two tiny decoders (and the tiny encoder tiny-4l-256) on the H100 roofline, into dir. */
static const char *profile(const char *dir)
{
    const char *out = fx_path(dir, "p.h5");
    struct fx_output r = fx_muxplan(
        "profile --backend roofline --hardware %s --models "
        "tiny-llama-2l-256,tiny-llama-4l-512,tiny-4l-256 --ops 1 --pps 1,2 --batches 1 -o %s",
        fx_source_path("data/hardware/h100-80gb.json"), out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    return out;
}

/* A trace of the example decoders at rate requests/s for duration_s, with SLOs of seconds. */
static const char *trace(const char *dir, const char *db, double rate, double duration_s)
{
    const char *models = fx_path(dir, "models.json"), *out = fx_path(dir, "t.h5");
    fx_write_file(models,
                  "{\"format\": \"muxplan-models/1\", \"models\": [\n"
                  " {\"name\": \"chat\", \"base\": \"tiny-llama-2l-256\", \"ttft_slo_s\": 0.5, "
                  "\"tpot_slo_s\": 0.05, \"lengths\": \"lognormal:48,0.5/lognormal:12,0.5\"},\n"
                  " {\"name\": \"code\", \"base\": \"tiny-llama-4l-512\", \"ttft_slo_s\": 1, "
                  "\"tpot_slo_s\": 0.1, \"lengths\": \"lognormal:64,0.5/lognormal:16,0.5\"}]}");
    struct fx_output r = fx_muxplan("trace gen --models %s --profile %s --rate-dist equal "
                                    "--total-rate %g --cv 2 --duration %g --seed 5 -o %s",
                                    models, db, rate, duration_s, out);
    cr_assert_eq(r.status, 0, "%s", r.err);
    return out;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    cr_assert_not_null(doc, "not JSON: %s (%s)", err.text, text);
    return doc;
}

static long long count(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void expect_conserved(json_t *side, const char *what)
{
    long long n = count(side, "requests");
    cr_assert_gt(n, 0);
    cr_assert_eq(count(side, "good") + count(side, "late") + count(side, "rejected") +
                     count(side, "failed"),
                 n, "%s: outcomes do not add up to %lld requests", what, n);
}

Test(serve_llm, fidelity_and_serve_of_a_decoder_pipeline, .timeout = 300)
{
    const char *dir = fx_tmpdir(), *db = profile(dir), *t = trace(dir, db, 8, 2);
    struct fx_output r =
        fx_muxplan("fidelity --cluster %s --plan %s --trace %s --profile %s --calibrate --json",
                   example("cluster-cpu.json"), example("plan-llm-pipeline.json"), t, db);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *doc = parse(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "format")),
                     "muxplan-fidelity-decoder/1");
    json_t *sim = json_object_get(doc, "sim"), *real = json_object_get(doc, "real");
    expect_conserved(sim, "sim");
    expect_conserved(real, "real");
    cr_assert_eq(count(sim, "requests"), count(real, "requests"));
    cr_assert_eq(count(real, "failed"), 0);
    cr_assert(json_is_true(json_object_get(doc, "calibrated")));
    cr_assert(json_is_object(json_object_get(real, "ttft")) &&
              json_is_object(json_object_get(real, "tpot")));
    cr_assert_eq(json_array_size(json_object_get(doc, "models")), 2);
    json_t *rt = json_object_get(doc, "runtime");
    json_t *stages = json_object_get(rt, "stages");
    cr_assert_eq(json_array_size(stages), 2);
    for (size_t k = 0; k < 2; k++)
        cr_assert_gt(count(json_array_get(stages, k), "iterations"), 0);
    cr_assert_gt(count(rt, "tokens_generated"), 0);
    json_decref(doc);

    const char *results = fx_path(dir, "r.h5");
    r = fx_muxplan("serve --cluster %s --plan %s --trace %s --profile %s --json --requests-out %s",
                   example("cluster-cpu.json"), example("plan-llm-shared.json"), t, db, results);
    cr_assert_eq(r.status, 0, "%s", r.err);
    doc = parse(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "engine")), "runtime-cpu");
    json_t *decoder = json_object_get(doc, "decoder");
    cr_assert(json_is_object(decoder));
    long long n = count(decoder, "requests");
    cr_assert_eq(count(decoder, "good") + count(decoder, "late") + count(decoder, "rejected") +
                     count(decoder, "no_replica"),
                 n);
    cr_assert_eq(count(json_object_get(doc, "runtime"), "released"), n);
    json_decref(doc);
    cr_assert(fx_exists(results));
    r = fx_muxplan("serve --cluster %s --plan %s --trace %s --profile %s",
                   example("cluster-cpu.json"), example("plan-llm-separate.json"), t, db);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "runtime (cpu backend, decoders)"), "%s", r.out);
}

Test(serve_llm, ctrl_c_stops_and_reports_what_was_released, .timeout = 300)
{
    const char *dir = fx_tmpdir(), *db = profile(dir), *t = trace(dir, db, 4, 60);
    const char *out = fx_path(dir, "out.json");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (!freopen(out, "w", stdout))
            _exit(99);
        execl(getenv("MUXPLAN_BIN"), "muxplan", "serve", "--cluster", example("cluster-cpu.json"),
              "--plan", example("plan-llm-shared.json"), "--trace", t, "--profile", db, "--json",
              (char *)NULL);
        _exit(98);
    }
    /* Long enough to build, warm up and release some requests on a busy machine; the trace
     * lasts a minute. */
    sleep(8);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    size_t len;
    char *text = fx_read_file(out, &len);
    json_t *doc = parse(text);
    json_t *rt = json_object_get(doc, "runtime");
    cr_assert(json_is_true(json_object_get(rt, "interrupted")));
    long long released = count(rt, "released");
    cr_assert_gt(released, 0);
    cr_assert_lt(released, 200);
    cr_assert_eq(count(json_object_get(doc, "decoder"), "requests"), released,
                 "the report covers the released requests");
    json_decref(doc);
    free(text);
}

Test(serve_llm, refuses_what_it_does_not_serve, .timeout = 120)
{
    const char *dir = fx_tmpdir(), *db = profile(dir), *t = trace(dir, db, 4, 1);
    const char *out = fx_path(dir, "r.h5"), *cluster = example("cluster-cpu.json");
    const char *mixed = fx_path(dir, "mixed.json");
    fx_write_file(mixed,
                  "{\"format\": \"muxplan-plan/1\", \"models\": [{\"name\": \"chat\", \"base\": "
                  "\"tiny-llama-2l-256\"}, {\"name\": \"code\", \"base\": \"tiny-llama-4l-512\"}, "
                  "{\"name\": \"enc\", \"base\": \"tiny-4l-256\"}], \"groups\": [{\"id\": 0, "
                  "\"devices\": [0], \"dp\": 1, \"op\": 1, \"pp\": 1, \"models\": [\"chat\", "
                  "\"code\"]}, {\"id\": 1, \"devices\": [1], \"dp\": 1, \"op\": 1, \"pp\": 1, "
                  "\"models\": [\"enc\"]}]}");
    fx_expect_bad(out,
                  (const char *const[]){"mixed.json: group 1 hosts encoder model \"enc\"",
                                        "serve the encoder groups and the decoder groups as two "
                                        "plans",
                                        NULL},
                  "serve --cluster %s --plan %s --trace %s --profile %s --requests-out %s", cluster,
                  mixed, t, db, out);
    fx_expect_bad(out,
                  (const char *const[]){"the cuda backend does not run decoder models yet: serve "
                                        "decoder plans with --backend cpu",
                                        NULL},
                  "serve --cluster %s --plan %s --trace %s --profile %s --backend cuda "
                  "--requests-out %s",
                  cluster, example("plan-llm-shared.json"), t, db, out);
    fx_expect_bad(out,
                  (const char *const[]){"--dispatch is the encoders' policy: decoder groups "
                                        "dispatch by the cluster's",
                                        NULL},
                  "fidelity --cluster %s --plan %s --trace %s --profile %s --dispatch "
                  "earliest-free",
                  cluster, example("plan-llm-shared.json"), t, db);
}
