/* src/workload: traces of decoder requests, with token counts and TTFT and TPOT SLOs: both forms
 * keep every field, traces without tokens still read, and every bad token field is named. */
#include "fixture.h"
#include "mx_error.h"
#include "mx_h5.h"
#include "wl_trace.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static struct wl_trace *token_trace(void)
{
    struct wl_trace *t =
        fx_trace(3, (double[]){0.5, 1, 2}, (int32_t[]){0, 1, 0}, (double[]){30, 60, 30}, 2);
    t->slo_s[1] = INFINITY;
    wl_trace_add_tokens(t);
    memcpy(t->input_tokens, (int32_t[]){100, 2048, 1}, sizeof(int32_t[3]));
    memcpy(t->output_tokens, (int32_t[]){20, 1, 500}, sizeof(int32_t[3]));
    memcpy(t->ttft_slo_s, (double[]){0.25, INFINITY, 1.5}, sizeof(double[3]));
    memcpy(t->tpot_slo_s, (double[]){0.05, 0.1, INFINITY}, sizeof(double[3]));
    return t;
}

static void assert_same_tokens(const struct wl_trace *a, const struct wl_trace *b)
{
    cr_assert(wl_trace_has_tokens(b));
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->arrival_s[i], b->arrival_s[i]);
        cr_assert_str_eq(a->model_names[a->model[i]], b->model_names[b->model[i]]);
        cr_assert_eq(a->slo_s[i], b->slo_s[i], "request %zu", i);
        cr_assert_eq(a->input_tokens[i], b->input_tokens[i]);
        cr_assert_eq(a->output_tokens[i], b->output_tokens[i]);
        cr_assert_eq(a->ttft_slo_s[i], b->ttft_slo_s[i], "request %zu", i);
        cr_assert_eq(a->tpot_slo_s[i], b->tpot_slo_s[i], "request %zu", i);
    }
}

Test(trace_tokens, both_forms_keep_tokens_and_absent_slos)
{
    const char *dir = fx_tmpdir();
    struct wl_trace *t = token_trace(), *h5 = NULL, *csv = NULL;
    cr_assert_eq(wl_trace_write_h5(t, fx_path(dir, "t.h5")), MX_OK, "%s", mx_error_message());
    cr_assert_eq(wl_trace_read_h5(fx_path(dir, "t.h5"), &h5), MX_OK, "%s", mx_error_message());
    assert_same_tokens(t, h5);
    cr_assert_eq(wl_trace_write_csv(t, fx_path(dir, "t.csv")), MX_OK, "%s", mx_error_message());
    cr_assert_eq(wl_trace_read_csv(fx_path(dir, "t.csv"), &csv), MX_OK, "%s", mx_error_message());
    assert_same_tokens(t, csv);
    wl_trace_free(t);
    wl_trace_free(h5);
    wl_trace_free(csv);
}

Test(trace_tokens, selection_keeps_tokens_and_plain_traces_have_none)
{
    struct wl_trace *t = token_trace();
    int32_t map[2] = {-1, 0};
    const char *names[1] = {"m1"};
    struct wl_trace *s = wl_trace_select(t, 0, 10, map, 1, names);
    cr_assert_eq(s->n, 1);
    cr_assert_eq(s->input_tokens[0], 2048);
    cr_assert_eq(s->tpot_slo_s[0], 0.1);
    struct wl_trace *plain = fx_trace(1, (double[]){0}, (int32_t[]){0}, (double[]){1}, 1);
    cr_assert_not(wl_trace_has_tokens(plain));
    wl_trace_free(plain);
    wl_trace_free(s);
    wl_trace_free(t);
}

Test(trace_tokens, optional_slo_columns_default_to_none)
{
    const char *path = fx_path(fx_tmpdir(), "t.csv");
    fx_write_file(path, "arrival_s,model,slo_s,output_tokens,input_tokens,tpot_slo_s\n"
                        "1,a,,8,16,0.02\n2,a,5,1,4,\n");
    struct wl_trace *t = NULL;
    cr_assert_eq(wl_trace_read_csv(path, &t), MX_OK, "%s", mx_error_message());
    cr_assert(isinf(t->slo_s[0]));
    cr_assert_eq(t->input_tokens[0], 16);
    cr_assert_eq(t->output_tokens[0], 8);
    cr_assert(isinf(t->ttft_slo_s[0]) && isinf(t->ttft_slo_s[1]));
    cr_assert_eq(t->tpot_slo_s[0], 0.02);
    cr_assert(isinf(t->tpot_slo_s[1]));
    wl_trace_free(t);
}

Test(trace_tokens, bad_token_csv_names_line_and_column)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"arrival_s,model,slo_s,input_tokens\n1,a,1,5\n",
         ":1: the header names \"input_tokens\" but not \"output_tokens\""},
        {"arrival_s,model,slo_s,ttft_slo_s\n1,a,1,5\n",
         ":1: the header names \"ttft_slo_s\" but not \"input_tokens\""},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,0,5\n",
         ":2: input_tokens: input tokens are not between 1 and 16777216"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,5,0\n",
         ":2: output_tokens: output tokens are not at least 1"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,16777215,2\n",
         ":2: output_tokens: output tokens are not at least 1 with input plus output at most"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,2.5,2\n",
         ":2: input_tokens: \"2.5\" is not a whole number"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,1e12,2\n",
         ":2: input_tokens: \"1e12\" is not a whole number"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens,ttft_slo_s\n1,a,1,5,5,-0.5\n",
         ":2: ttft_slo_s: SLO is not a positive number"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens,tpot_slo_s\n1,a,1,5,5,x\n",
         ":2: tpot_slo_s: \"x\" is not a number (nor empty for none)"},
        {"arrival_s,model,slo_s,input_tokens,output_tokens\n1,a,1,5\n",
         ":2: output_tokens: missing (the row has 4 fields)"},
    };
    const char *path = fx_path(fx_tmpdir(), "bad.csv");
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        fx_write_file(path, cases[k].text);
        struct wl_trace *t = NULL;
        fx_expect_error(wl_trace_read_csv(path, &t), MX_EINPUT, cases[k].message);
        cr_assert(strstr(mx_error_message(), path), "case %zu: %s", k, mx_error_message());
        cr_assert_null(t);
    }
}

/* An HDF5 trace of two requests with the token datasets given (NULL: left out). */
static void write_token_h5(const char *path, const int32_t *input, const int32_t *output,
                           const double *ttft)
{
    struct mx_h5 h;
    size_t n[2] = {2, 0};
    const char *names[1] = {"a"};
    cr_assert_eq(mx_h5_create(path, "trace", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/arrival_s", MX_H5_F64, 1, n, (double[]){0, 1}), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/model", MX_H5_I32, 1, n, (int32_t[]){0, 0}), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/slo_s", MX_H5_F64, 1, n, (double[]){1, 1}), MX_OK);
    cr_assert_eq(mx_h5_write_strings(&h, "/model_names", 1, names), MX_OK);
    if (input)
        cr_assert_eq(mx_h5_write(&h, "/input_tokens", MX_H5_I32, 1, n, input), MX_OK);
    if (output)
        cr_assert_eq(mx_h5_write(&h, "/output_tokens", MX_H5_I32, 1, n, output), MX_OK);
    if (ttft)
        cr_assert_eq(mx_h5_write(&h, "/ttft_slo_s", MX_H5_F64, 1, n, ttft), MX_OK);
    cr_assert_eq(mx_h5_close(&h), MX_OK);
}

Test(trace_tokens, bad_token_hdf5_names_dataset_and_row)
{
    const char *path = fx_path(fx_tmpdir(), "bad.h5");
    struct wl_trace *t = NULL;
    write_token_h5(path, (int32_t[]){1, 2}, NULL, NULL);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "/input_tokens: present without /output_tokens");
    write_token_h5(path, NULL, NULL, (double[]){1, 1});
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT,
                    "/ttft_slo_s: present without /input_tokens");
    write_token_h5(path, (int32_t[]){1, 2}, (int32_t[]){3, -4}, NULL);
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT, "/output_tokens[1]: output tokens");
    write_token_h5(path, (int32_t[]){1, 2}, (int32_t[]){3, 4}, (double[]){1, NAN});
    fx_expect_error(wl_trace_read_h5(path, &t), MX_EINPUT, "/ttft_slo_s[1]: SLO is not");
    cr_assert_null(t);
    write_token_h5(path, (int32_t[]){1, 2}, (int32_t[]){3, 4}, NULL);
    cr_assert_eq(wl_trace_read_h5(path, &t), MX_OK, "%s", mx_error_message());
    cr_assert(isinf(t->tpot_slo_s[1]));
    wl_trace_free(t);
}
