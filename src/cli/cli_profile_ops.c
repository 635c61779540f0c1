/* muxplan profile ops: the roofline cost model's prediction for each operator of one decoder layer
 * (and a stage's ends), at chosen token counts, so that anyone can hold it against a measurement.
 * Operator names are Vidur's (docs/profiler.md, "Decoders"). */
#include "cli.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "prof_arch.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "spec_profile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: muxplan profile ops --hardware HW.json --models NAME,... --tokens 1,16,256,4096\n"
    "                           [--op K] [--zoo DIR] [--json]\n"
    "\n"
    "Prints the roofline cost model's time of each operator of one layer of each decoder model on\n"
    "one of K tensor-parallel devices (default 1) at each token count of an iteration, under\n"
    "Vidur's operator names: input_layernorm, attn_pre_proj (QKV), attn_rope, attn_post_proj,\n"
    "post_attention_layernorm, mlp_up_proj (gate and up), mlp_act, mlp_down_proj, add (one "
    "residual\n"
    "add; a layer has two), then mlp_router (experts only), all_reduce (one of the layer's two),\n"
    "layer_sum (Vidur's sum: the nine operators once each), layer_s (the whole layer without its\n"
    "attention: both adds and both all-reduces), and a stage's ends: emb, final_layernorm,\n"
    "lm_head. Text in milliseconds; --json in seconds (its \"unit\" says so).\n"
    "\n"
    "example:\n"
    "  muxplan profile ops --hardware data/hardware/h100-80gb.json --models llama-2-7b \\\n"
    "      --tokens 1,16,256,4096 --op 2 --json\n";

#define MAX_POINTS 64
#define MAX_ROWS 20

struct ops_table {
    const char *names[MAX_ROWS];
    double s[MAX_ROWS][MAX_POINTS];
    size_t rows;
};

static double *row(struct ops_table *t, const char *name)
{
    for (size_t r = 0; r < t->rows; r++)
        if (strcmp(t->names[r], name) == 0)
            return t->s[r];
    t->names[t->rows] = name;
    memset(t->s[t->rows], 0, sizeof(t->s[0]));
    return t->s[t->rows++];
}

/* The table of a at tokens[n] on one of op devices. */
static void predict(const struct prof_hw *hw, const struct prof_arch *a, int op,
                    const int32_t *tokens, uint32_t n, struct ops_table *t)
{
    static const char *const vidur[] = {"input_layernorm",
                                        "attn_pre_proj",
                                        "attn_rope",
                                        "attn_post_proj",
                                        "post_attention_layernorm",
                                        "mlp_up_proj",
                                        "mlp_act",
                                        "mlp_down_proj",
                                        "add"};
    t->rows = 0;
    for (size_t v = 0; v < sizeof(vidur) / sizeof(vidur[0]); v++)
        row(t, vidur[v]);
    for (uint32_t j = 0; j < n; j++) {
        struct prof_op ops[PROF_DECODER_LAYER_OPS + PROF_DECODER_END_OPS];
        size_t n_layer = prof_decoder_layer_ops(a, tokens[j], op, ops);
        size_t n_end = prof_decoder_end_ops(a, tokens[j], op, true, true, ops + n_layer);
        double layer = 0, sum = 0;
        for (size_t i = 0; i < n_layer; i++) {
            double s = prof_decoder_op_s(hw, &ops[i]);
            layer += s;
            /* One instance of each (one add), as Vidur times them. */
            row(t, ops[i].name)[j] = s / (double)ops[i].count;
            sum += strcmp(ops[i].name, "mlp_router") ? s / (double)ops[i].count : 0;
        }
        double allreduce = prof_decoder_allreduce_s(
            hw, (double)tokens[j] * (double)a->hidden * (double)a->dtype_bytes, op);
        row(t, "all_reduce")[j] = allreduce;
        row(t, "layer_sum")[j] = sum;
        row(t, "layer_s")[j] = layer + 2 * allreduce;
        for (size_t i = n_layer; i < n_layer + n_end; i++)
            row(t, ops[i].name)[j] = prof_decoder_op_s(hw, &ops[i]);
    }
}

static json_t *table_json(const struct prof_arch *a, const struct ops_table *t, uint32_t n)
{
    json_t *ops = json_object();
    for (size_t r = 0; r < t->rows; r++)
        mx_json_set(ops, t->names[r], mx_json_f64_array(t->s[r], n));
    json_t *o = json_object();
    mx_json_set(o, "model", json_string(a->name));
    mx_json_set(o, "ops", ops);
    return o;
}

static void table_print(const struct prof_arch *a, int op, const struct ops_table *t,
                        const int32_t *tokens, uint32_t n)
{
    printf("%s, op %d: milliseconds per operator (one instance), by tokens\n", a->name, op);
    printf("%-26s", "operator");
    for (uint32_t j = 0; j < n; j++)
        printf(" %10d", tokens[j]);
    printf("\n");
    for (size_t r = 0; r < t->rows; r++) {
        printf("%-26s", t->names[r]);
        for (uint32_t j = 0; j < n; j++)
            printf(" %10.4f", t->s[r][j] * 1e3);
        printf("\n");
    }
}

int cli_profile_ops(int argc, char **argv)
{
    enum { OPT_HARDWARE = 256, OPT_MODELS, OPT_TOKENS, OPT_OP, OPT_ZOO, OPT_JSON };
    static const struct option options[] = {
        {"hardware", required_argument, NULL, OPT_HARDWARE},
        {"models", required_argument, NULL, OPT_MODELS},
        {"tokens", required_argument, NULL, OPT_TOKENS},
        {"op", required_argument, NULL, OPT_OP},
        {"zoo", required_argument, NULL, OPT_ZOO},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *hardware = NULL, *models = NULL, *zoo = NULL;
    int32_t tokens[MAX_POINTS];
    uint32_t n_tokens = 0;
    uint64_t op = 1;
    bool json = false;
    int opt, rc = MX_OK;
    optind = 1;
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_HARDWARE:
            hardware = optarg;
            break;
        case OPT_MODELS:
            models = optarg;
            break;
        case OPT_ZOO:
            zoo = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_OP:
            rc = cli_parse_u64("--op", optarg, 1, 4096, &op);
            break;
        case OPT_TOKENS: {
            char *copy = mx_strdup(optarg), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); rc == MX_OK && tok;
                 tok = strtok_r(NULL, ",", &save)) {
                uint64_t v;
                rc = cli_parse_u64("--tokens", tok, 1, SPEC_MAX_CONTEXT_TOKENS, &v);
                if (rc == MX_OK && n_tokens == MAX_POINTS)
                    rc = cli_usage_error("profile ops", "--tokens: at most %d values", MAX_POINTS);
                if (rc == MX_OK)
                    tokens[n_tokens++] = (int32_t)v;
            }
            free(copy);
            break;
        }
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            rc = cli_usage_error("profile ops", "unknown or incomplete option \"%s\"",
                                 argv[optind - 1]);
        }
    }
    if (rc == MX_OK && optind < argc)
        rc = cli_usage_error("profile ops", "unexpected argument \"%s\"", argv[optind]);
    if (rc == MX_OK && (!hardware || !models || n_tokens == 0))
        rc = cli_usage_error("profile ops", "--hardware, --models and --tokens are required");
    if (!zoo)
        zoo = cli_bundled("data/models");
    struct prof_hw *hw = NULL;
    if (rc == MX_OK && (rc = prof_hw_read(hardware, &hw)) == MX_OK)
        rc = prof_hw_check_decoder(hw);
    json_t *out = json_array();
    char *copy = mx_strdup(models ? models : ""), *save = NULL;
    struct ops_table *table = MX_NEW(struct ops_table);
    for (char *name = strtok_r(copy, ",", &save); rc == MX_OK && name;
         name = strtok_r(NULL, ",", &save)) {
        struct prof_arch *a = NULL;
        long long of = 0;
        const char *why;
        if ((rc = prof_arch_find(zoo, name, &a)) < 0)
            break;
        if (a->kind != PROF_ARCH_DECODER)
            rc = mx_error(MX_EINPUT, "%s: kind is not \"decoder\": profile ops costs decoders",
                          a->path);
        else if ((why = prof_arch_op_unfit(a, (int)op, &of)))
            rc = mx_error(MX_EINPUT, "%s: --op %d %s (%lld)", a->path, (int)op, why, of);
        if (rc == MX_OK) {
            predict(hw, a, (int)op, tokens, n_tokens, table);
            if (json)
                mx_json_append(out, table_json(a, table, n_tokens));
            else
                table_print(a, (int)op, table, tokens, n_tokens);
        }
        prof_arch_free(a);
    }
    if (rc == MX_OK && json) {
        json_t *tok = json_array();
        for (uint32_t j = 0; j < n_tokens; j++)
            mx_json_append(tok, json_integer(tokens[j]));
        json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:o}", "hardware", hw->name, "unit", "s", "op",
                              (int)op, "tokens", tok, "models", json_incref(out));
        rc = mx_json_print(stdout, o);
        json_decref(o);
    }
    json_decref(out);
    free(table);
    free(copy);
    prof_hw_free(hw);
    return rc == MX_OK ? 0 : cli_report(rc);
}
