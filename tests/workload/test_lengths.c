/* src/workload request lengths: the grammar (every form, every bad text named), each distribution
 * against its definition, the limit (conditioning, refusal, redraws), and trace gen's lengths: per
 * model streams whatever the threads, decoder SLOs, empirical pairs of a trace, bad lengths named
 * by the model set's member. */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_rng.h"
#include "spec_models.h"
#include "spec_profile.h"
#include "wl_gen.h"
#include "wl_lengths.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct wl_lengths *parse(const char *text)
{
    struct wl_lengths *l = NULL;
    int rc = wl_lengths_parse(text, "test", NULL, NULL, &l);
    cr_assert_eq(rc, MX_OK, "%s: %s", text, mx_error_message());
    return l;
}

/* n draws from stream ("test", 0) of seed 1. */
static void draw(const struct wl_lengths *l, size_t n, int32_t *in, int32_t *out)
{
    gsl_rng *rng = mx_rng_new(1, "test", 0);
    for (size_t i = 0; i < n; i++)
        cr_assert(wl_lengths_draw(l, rng, &in[i], &out[i]));
    gsl_rng_free(rng);
}

static int compare_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

#define N_DRAWS 200000

Test(lengths, fixed_and_uniform)
{
    int32_t *in = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    int32_t *out = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    struct wl_lengths *l = parse("512/fixed:128");
    draw(l, 1000, in, out);
    for (size_t i = 0; i < 1000; i++)
        cr_assert(in[i] == 512 && out[i] == 128);
    wl_lengths_free(l);

    l = parse("uniform:10,19/uniform:1,1");
    draw(l, N_DRAWS, in, out);
    size_t seen[10] = {0};
    for (size_t i = 0; i < N_DRAWS; i++) {
        cr_assert(in[i] >= 10 && in[i] <= 19 && out[i] == 1);
        seen[in[i] - 10]++;
    }
    for (int k = 0; k < 10; k++)
        cr_assert_float_eq(seen[k] / (double)N_DRAWS, 0.1, 0.005, "value %d", k + 10);
    wl_lengths_free(l);
    free(in);
    free(out);
}

Test(lengths, lognormal_has_its_median_and_sigma)
{
    int32_t *in = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    int32_t *out = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    struct wl_lengths *l = parse("lognormal:1000,1/lognormal:200,0.5");
    draw(l, N_DRAWS, in, out);
    qsort(in, N_DRAWS, sizeof(int32_t), compare_i32);
    qsort(out, N_DRAWS, sizeof(int32_t), compare_i32);
    cr_assert_float_eq(in[N_DRAWS / 2], 1000, 15);
    cr_assert_float_eq(out[N_DRAWS / 2], 200, 3);
    /* The 84.1st percentile of a lognormal is median x e^sigma. */
    cr_assert_float_eq(in[(size_t)(0.8413 * N_DRAWS)], 1000 * exp(1), 60);
    cr_assert_float_eq(out[(size_t)(0.8413 * N_DRAWS)], 200 * exp(0.5), 6);
    wl_lengths_free(l);
    free(in);
    free(out);
}

Test(lengths, zipf_follows_its_power_law)
{
    static const double exponents[3] = {0.8, 1, 2.5};
    int32_t *in = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    int32_t *out = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    for (int e = 0; e < 3; e++) {
        char text[64];
        snprintf(text, sizeof(text), "zipf:%g,50/1", exponents[e]);
        struct wl_lengths *l = parse(text);
        draw(l, N_DRAWS, in, out);
        double norm = 0, count[51] = {0};
        for (int k = 1; k <= 50; k++)
            norm += pow(k, -exponents[e]);
        for (size_t i = 0; i < N_DRAWS; i++) {
            cr_assert(in[i] >= 1 && in[i] <= 50);
            count[in[i]]++;
        }
        for (int k = 1; k <= 50; k++) {
            double p = pow(k, -exponents[e]) / norm;
            double sd = sqrt(p * (1 - p) / N_DRAWS);
            cr_assert_float_eq(count[k] / N_DRAWS, p, 5 * sd + 1e-6, "s %g, k %d", exponents[e], k);
        }
        wl_lengths_free(l);
    }
    free(in);
    free(out);
}

Test(lengths, empirical_draws_whole_pairs_of_a_trace_or_one_model)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *t =
        fx_trace(4, (double[]){0, 1, 2, 3}, (int32_t[]){0, 1, 0, 1}, (double[]){1, 1, 1, 1}, 2);
    wl_trace_add_tokens(t);
    memcpy(t->input_tokens, (int32_t[]){10, 20, 30, 40}, sizeof(int32_t[4]));
    memcpy(t->output_tokens, (int32_t[]){1, 2, 3, 4}, sizeof(int32_t[4]));
    cr_assert_eq(wl_trace_write_h5(t, fx_path(dir, "src.h5")), MX_OK);
    cr_assert_eq(wl_trace_write_csv(t, fx_path(dir, "src.csv")), MX_OK);
    int32_t in[1000], out[1000];
    struct wl_lengths *l = NULL;
    cr_assert_eq(wl_lengths_parse("empirical:src.h5", "test", dir, NULL, &l), MX_OK, "%s",
                 mx_error_message());
    draw(l, 1000, in, out);
    size_t seen[4] = {0};
    for (size_t i = 0; i < 1000; i++) {
        cr_assert_eq(in[i], 10 * out[i], "the pair is drawn whole");
        seen[out[i] - 1]++;
    }
    for (int k = 0; k < 4; k++)
        cr_assert(seen[k] > 200 && seen[k] < 300);
    /* The limit leaves out the pairs that do not fit: 30 + 3 and 40 + 4 are over 25. */
    cr_assert_eq(wl_lengths_limit(l, 25, "twenty-five"), MX_OK);
    draw(l, 1000, in, out);
    for (size_t i = 0; i < 1000; i++)
        cr_assert(in[i] + out[i] <= 25);
    fx_expect_error(wl_lengths_limit(l, 10, "the context"), MX_EINPUT,
                    "test: none of the 4 requests fits the context (input plus output at most 10 "
                    "tokens)");
    wl_lengths_free(l);

    /* One model of a CSV trace; the model's name may hold a ':'. */
    cr_assert_eq(wl_lengths_parse("empirical:src.csv:m1", "test", dir, NULL, &l), MX_OK, "%s",
                 mx_error_message());
    draw(l, 100, in, out);
    for (size_t i = 0; i < 100; i++)
        cr_assert(out[i] == 2 || out[i] == 4);
    wl_lengths_free(l);
    wl_trace_free(t);
}

struct bad_text {
    const char *text, *fragment;
};

Test(lengths, bad_texts_are_named)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *plain = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    cr_assert_eq(wl_trace_write_h5(plain, fx_path(dir, "plain.h5")), MX_OK);
    wl_trace_free(plain);
    static const struct bad_text cases[] = {
        {"512", "where: expected INPUT/OUTPUT, each N, fixed:N"},
        {"1/2/3", "where: expected INPUT/OUTPUT"},
        {"0/5", "where: input: expected N, fixed:N, uniform:LO,HI, lognormal:MEDIAN,SIGMA or "
                "zipf:S,MAX (N, LO, HI, MAX whole numbers from 1 to 16777216), got \"0\""},
        {"5/2.5", "where: output: expected N, fixed:N"},
        {"5/16777217", "where: output: expected N"},
        {"fixed:/5", "where: input: expected N"},
        {"gamma:1,2/5", "where: input: expected N"},
        {"uniform:9,3/5", "where: input: uniform:LO,HI needs LO <= HI, got \"uniform:9,3\""},
        {"uniform:3/5", "where: input: expected N"},
        {"5/lognormal:0.5,1", "where: output: lognormal:MEDIAN,SIGMA needs MEDIAN in [1, "
                              "16777216] and SIGMA in [0, 10], got \"lognormal:0.5,1\""},
        {"5/lognormal:100,-1", "needs MEDIAN in [1, 16777216] and SIGMA in [0, 10]"},
        {"zipf:0,100/5", "where: input: zipf:S,MAX needs S in (0, 100], got \"zipf:0,100\""},
        {"zipf:1,0/5", "where: input: expected N"},
        {"empirical:trace", "where: expected empirical:TRACE[:MODEL] with TRACE ending in .h5, "
                            ".hdf5 or .csv, got \"empirical:trace\""},
        {"empirical:missing.h5", "where: "},
        {"empirical:plain.h5", "where: trace "},
        {"empirical:plain.h5", "plain.h5 has no token counts (input_tokens, output_tokens), "
                               "which empirical lengths need"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct wl_lengths *l = NULL;
        fx_expect_error(wl_lengths_parse(cases[c].text, "where", dir, NULL, &l), MX_EINPUT,
                        cases[c].fragment);
        cr_assert_null(l, "%s", cases[c].text);
    }
    struct wl_lengths *l = NULL;
    cr_assert_neq(wl_lengths_parse("empirical:missing.h5", "where", dir, NULL, &l), MX_OK);
    cr_assert(strstr(mx_error_message(), "missing.h5"), "%s", mx_error_message());
}

Test(lengths, limit_conditions_draws_and_refuses_what_cannot_fit)
{
    int32_t *in = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    int32_t *out = mx_malloc_array(N_DRAWS, sizeof(int32_t));
    struct wl_lengths *l = parse("uniform:1,100/uniform:1,100");
    cr_assert_eq(wl_lengths_limit(l, 100, "a hundred"), MX_OK);
    draw(l, N_DRAWS, in, out);
    /* Conditioned on input + output <= 100: each of the 4950 fitting pairs equally likely, so
     * P(input = 1) = 99 / 4950 = 2% and P(input = 99) = 1 / 4950. */
    size_t ones = 0, high = 0;
    for (size_t i = 0; i < N_DRAWS; i++) {
        cr_assert(in[i] + out[i] <= 100);
        ones += in[i] == 1;
        high += in[i] == 99;
    }
    cr_assert_float_eq(ones / (double)N_DRAWS, 0.02, 0.002);
    cr_assert_float_eq(high / (double)N_DRAWS, 1 / 4950.0, 1e-4);
    fx_expect_error(wl_lengths_limit(l, 1, "the context of model \"x\""), MX_EINPUT,
                    "test: the shortest request (1 input plus 1 output tokens) is over the context "
                    "of model \"x\" (1 tokens)");
    wl_lengths_free(l);

    /* A lognormal whose median is far over the limit fits too rarely: the draw fails. */
    l = parse("lognormal:100000,0.1/5");
    cr_assert_eq(wl_lengths_limit(l, 4096, "4k"), MX_OK);
    gsl_rng *rng = mx_rng_new(1, "test", 0);
    cr_assert_not(wl_lengths_draw(l, rng, &in[0], &out[0]));
    gsl_rng_free(rng);
    wl_lengths_free(l);
    free(in);
    free(out);
}

/* A model set of a decoder "chat" (TTFT and TPOT SLOs, lengths), a decoder "code" (lengths given
 * by the caller) and an encoder "enc". */
static struct spec_model_set *mixed_set(const char *dir, const char *chat_lengths,
                                        const char *code_lengths)
{
    char *text =
        mx_strfmt("{\"format\": \"muxplan-models/1\", \"models\": ["
                  "{\"name\": \"chat\", \"base\": \"llm\", \"ttft_slo_s\": 1, \"tpot_slo_s\": 0.1, "
                  "\"lengths\": \"%s\"},"
                  "{\"name\": \"code\", \"base\": \"llm\", \"ttft_slo_s\": 0.5%s%s%s},"
                  "{\"name\": \"enc\", \"base\": \"bert\", \"slo_s\": 0.25}]}",
                  chat_lengths, code_lengths ? ", \"lengths\": \"" : "",
                  code_lengths ? code_lengths : "", code_lengths ? "\"" : "");
    const char *path = fx_path(dir, "models.json");
    fx_write_file(path, text);
    free(text);
    struct spec_model_set *set = NULL;
    cr_assert_eq(spec_models_read(path, &set), MX_OK, "%s", mx_error_message());
    return set;
}

static struct wl_gen_spec gen_spec(unsigned threads)
{
    return (struct wl_gen_spec){.process = WL_PROCESS_GAMMA,
                                .rate_dist = WL_RATES_EQUAL,
                                .total_rate = 30,
                                .cv = 2,
                                .duration_s = 100,
                                .seed = 3,
                                .threads = threads};
}

Test(gen_lengths, each_model_draws_its_own_whatever_the_threads)
{
    const char *dir = fx_tmpdir();
    struct spec_model_set *set = mixed_set(dir, "lognormal:1000,1/zipf:1.2,2000", "64/8");
    struct wl_gen_spec spec = gen_spec(1);
    struct wl_trace *one = NULL, *three = NULL;
    cr_assert_eq(wl_gen(set, &spec, &one), MX_OK, "%s", mx_error_message());
    spec.threads = 3;
    cr_assert_eq(wl_gen(set, &spec, &three), MX_OK, "%s", mx_error_message());
    cr_assert(wl_trace_has_tokens(one));
    cr_assert_eq(one->n, three->n);
    for (size_t i = 0; i < one->n; i++) {
        cr_assert_eq(one->arrival_s[i], three->arrival_s[i]);
        cr_assert_eq(one->input_tokens[i], three->input_tokens[i]);
        cr_assert_eq(one->output_tokens[i], three->output_tokens[i]);
        switch (one->model[i]) {
        case 0:
            cr_assert(one->ttft_slo_s[i] == 1 && one->tpot_slo_s[i] == 0.1);
            cr_assert(isinf(one->slo_s[i]));
            cr_assert(one->output_tokens[i] <= 2000);
            break;
        case 1:
            cr_assert(one->input_tokens[i] == 64 && one->output_tokens[i] == 8);
            cr_assert(one->ttft_slo_s[i] == 0.5 && isinf(one->tpot_slo_s[i]));
            break;
        default:
            cr_assert(one->input_tokens[i] == 1 && one->output_tokens[i] == 1,
                      "an encoder's requests count one token each way");
            cr_assert(one->slo_s[i] == 0.25 && isinf(one->ttft_slo_s[i]));
        }
    }
    /* Lengths draw from their own streams: arrivals are those of a set without lengths. */
    struct spec_model_set *plain = mixed_set(dir, "64/8", "64/8");
    struct wl_trace *other = NULL;
    spec.threads = 1;
    cr_assert_eq(wl_gen(plain, &spec, &other), MX_OK);
    cr_assert_eq(other->n, one->n);
    for (size_t i = 0; i < one->n; i++)
        cr_assert_eq(other->arrival_s[i], one->arrival_s[i]);
    wl_trace_free(other);
    wl_trace_free(one);
    wl_trace_free(three);
    spec_models_free(plain);
    spec_models_free(set);
}

Test(gen_lengths, defaults_contexts_and_missing_lengths)
{
    const char *dir = fx_tmpdir();
    struct spec_model_set *set = mixed_set(dir, "uniform:100,3000/uniform:1,2000", NULL);
    struct wl_gen_spec spec = gen_spec(1);
    struct wl_trace *t = NULL;
    fx_expect_error(wl_gen(set, &spec, &t), MX_EINPUT,
                    "models.json: models[1] (\"code\", base \"llm\") is a decoder and has no "
                    "\"lengths\": its requests need token counts");
    cr_assert_null(t);
    spec.lengths = "7/3";
    spec.lengths_where = "--lengths";
    spec.max_context = 2048;
    cr_assert_eq(wl_gen(set, &spec, &t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < t->n; i++) {
        cr_assert(t->input_tokens[i] + t->output_tokens[i] <= 2048);
        if (t->model[i] != 0)
            cr_assert(t->input_tokens[i] == 7 && t->output_tokens[i] == 3,
                      "the default is every model's without its own, encoders included");
    }
    wl_trace_free(t);
    t = NULL;

    /* The profile's context of a decoder base bounds its requests; the tighter bound names it. */
    struct spec_profile *db = spec_profile_new("test");
    struct spec_decoder_model info = {512, 256, 0.2, 0.025};
    spec_profile_add_decoder(db, "llm", &info);
    spec_profile_add_model(db, "bert");
    spec.db = db;
    spec.lengths = "600/10";
    fx_expect_error(wl_gen(set, &spec, &t), MX_EINPUT,
                    "--lengths: the shortest request (600 input plus 10 output tokens) is over the "
                    "context of model \"code\" (base \"llm\") (512 tokens)");
    spec.lengths = "100/10";
    cr_assert_eq(wl_gen(set, &spec, &t), MX_OK, "%s", mx_error_message());
    for (size_t i = 0; i < t->n; i++)
        cr_assert(t->input_tokens[i] + t->output_tokens[i] <= 512);
    wl_trace_free(t);
    t = NULL;
    spec.lengths = "lognormal:100000,0.01/10";
    fx_expect_error(wl_gen(set, &spec, &t), MX_EINPUT,
                    "--lengths: 1000 pairs in a row did not fit 1 <= tokens and input plus output "
                    "<= 512: lengths too long for model \"code\"");
    spec_profile_free(db);
    spec_models_free(set);

    set = mixed_set(dir, "5/x", "5/5");
    spec = gen_spec(1);
    fx_expect_error(wl_gen(set, &spec, &t), MX_EINPUT,
                    "models.json: models[0].lengths: output: expected N");
    spec_models_free(set);
}

Test(gen_lengths, empirical_from_a_trace_beside_the_model_set)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *src =
        fx_trace(3, (double[]){0, 1, 2}, (int32_t[]){0, 1, 1}, (double[]){1, 1, 1}, 2);
    wl_trace_add_tokens(src);
    memcpy(src->input_tokens, (int32_t[]){300, 40, 50}, sizeof(int32_t[3]));
    memcpy(src->output_tokens, (int32_t[]){30, 4, 5}, sizeof(int32_t[3]));
    cr_assert_eq(wl_trace_write_h5(src, fx_path(dir, "real.h5")), MX_OK);
    wl_trace_free(src);
    struct spec_model_set *set = mixed_set(dir, "empirical:real.h5:m1", "empirical:real.h5");
    struct wl_gen_spec spec = gen_spec(2);
    struct wl_trace *t = NULL;
    cr_assert_eq(wl_gen(set, &spec, &t), MX_OK, "%s", mx_error_message());
    size_t long_ones = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->model[i] == 2)
            continue;
        cr_assert_eq(t->input_tokens[i], 10 * t->output_tokens[i]);
        if (t->model[i] == 0)
            cr_assert(t->output_tokens[i] == 4 || t->output_tokens[i] == 5);
        long_ones += t->output_tokens[i] == 30;
    }
    cr_assert(long_ones > 0);
    wl_trace_free(t);
    spec_models_free(set);

    set = mixed_set(dir, "empirical:real.h5:nobody", "5/5");
    fx_expect_error(wl_gen(set, &spec, &t), MX_EINPUT, "models.json: models[0].lengths: trace ");
    cr_assert(strstr(mx_error_message(), "real.h5 has no model \"nobody\""), "%s",
              mx_error_message());
    spec_models_free(set);
}
