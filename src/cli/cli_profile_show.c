/* muxplan profile show: what a profile DB holds, without exporting it. */
#include "cli.h"

#include "mx_error.h"
#include "mx_json.h"
#include "spec_profile.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: muxplan profile show DB.h5|DB.json [--json]\n"
    "\n"
    "Lists what a profile DB holds: its hardware, its provenance (backend, date, version, the\n"
    "command that made it), and for every base model its parallel configs (op x pp) and batch\n"
    "sizes, with the batch-1 latency of its single-device config. Decoder models "
    "(docs/decoders.md)\n"
    "list their token grid instead of batch sizes, then their longest context and reference\n"
    "figures: the TTFT of the reference prompt alone and one decode step at that context.\n"
    "\n"
    "example:\n"
    "  muxplan profile show data/profiles/v100.h5\n";

/* The provenance's members without the raw per-layer numbers (often megabytes). */
static json_t *provenance_summary(const struct spec_profile *db)
{
    const char *text = spec_profile_provenance(db);
    json_t *p = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(p))
        json_object_del(p, "raw");
    return p ? p : json_null();
}

/* A decoder's token grid over its configs: "1..16384 (130)". */
static void tokens_text(const struct spec_profile_model *m, char *buf, size_t size)
{
    const struct spec_decoder_cost *first = &m->configs[0].decoder;
    bool same = true;
    for (uint32_t c = 1; c < m->n_configs && same; c++)
        same =
            m->configs[c].decoder.n_tokens == first->n_tokens &&
            !memcmp(m->configs[c].decoder.tokens, first->tokens, first->n_tokens * sizeof(int32_t));
    snprintf(buf, size, "T %d..%d (%u)%s", first->tokens[0], first->tokens[first->n_tokens - 1],
             first->n_tokens, same ? "" : " (configs differ)");
}

/* Batch sizes over a model's configs: "1,2,4,8,16" when they all profile the same ones. */
static void batches_text(const struct spec_profile_model *m, char *buf, size_t size)
{
    if (m->kind == SPEC_DECODER) {
        tokens_text(m, buf, size);
        return;
    }
    const struct spec_config *first = &m->configs[0];
    bool same = true;
    for (uint32_t c = 1; c < m->n_configs && same; c++)
        same = m->configs[c].n_batches == first->n_batches &&
               !memcmp(m->configs[c].batch, first->batch, first->n_batches * sizeof(int32_t));
    size_t at = 0;
    buf[0] = '\0';
    for (uint32_t b = 0; b < first->n_batches && at < size; b++)
        at += (size_t)snprintf(buf + at, size - at, "%s%d", b ? "," : "", first->batch[b]);
    if (!same && at < size)
        snprintf(buf + at, size - at, " (configs differ)");
}

/* Adds v to the ascending list of distinct values vals (of n). */
static void add_distinct(int32_t *vals, uint32_t *n, int32_t v)
{
    uint32_t at = 0;
    while (at < *n && vals[at] < v)
        at++;
    if (at < *n && vals[at] == v)
        return;
    memmove(vals + at + 1, vals + at, (*n - at) * sizeof(*vals));
    vals[at] = v;
    (*n)++;
}

/* A model's configs: "op 1,2,4 x pp 1,2" when they are every pairing of their op and pp degrees,
 * else each as "op x pp". */
static void configs_text(const struct spec_profile_model *m, char *buf, size_t size)
{
    int32_t ops[64], pps[64];
    uint32_t n_ops = 0, n_pps = 0;
    for (uint32_t c = 0; c < m->n_configs && n_ops < 63 && n_pps < 63; c++) {
        add_distinct(ops, &n_ops, m->configs[c].op);
        add_distinct(pps, &n_pps, m->configs[c].pp);
    }
    size_t at = 0;
    buf[0] = '\0';
    if (n_ops * n_pps == m->n_configs) {
        at += (size_t)snprintf(buf + at, size - at, "op ");
        for (uint32_t k = 0; k < n_ops && at < size; k++)
            at += (size_t)snprintf(buf + at, size - at, "%s%d", k ? "," : "", ops[k]);
        for (uint32_t k = 0; k < n_pps && at < size; k++)
            at += (size_t)snprintf(buf + at, size - at, "%s%d", k ? "," : " x pp ", pps[k]);
        return;
    }
    for (uint32_t c = 0; c < m->n_configs && at < size; c++)
        at += (size_t)snprintf(buf + at, size - at, "%s%dx%d", c ? " " : "", m->configs[c].op,
                               m->configs[c].pp);
}

static json_t *model_json(const struct spec_profile *db, const struct spec_profile_model *m)
{
    json_t *configs = json_array();
    for (uint32_t c = 0; c < m->n_configs; c++) {
        const struct spec_config *cfg = &m->configs[c];
        json_t *batches = json_array();
        for (uint32_t b = 0; b < cfg->n_batches; b++)
            mx_json_append(batches, json_integer(cfg->batch[b]));
        json_t *entry = json_pack("{s:i, s:i, s:i, s:o}", "dp", cfg->dp, "op", cfg->op, "pp",
                                  cfg->pp, "batches", batches);
        if (m->kind == SPEC_DECODER) {
            json_t *tokens = json_array();
            for (uint32_t j = 0; j < cfg->decoder.n_tokens; j++)
                mx_json_append(tokens, json_integer(cfg->decoder.tokens[j]));
            mx_json_set(entry, "tokens", tokens);
        }
        mx_json_append(configs, entry);
    }
    double single = spec_profile_single_device_latency_s(db, m->name);
    json_t *o = json_pack("{s:s, s:o}", "name", m->name, "configs", configs);
    mx_json_set(o, "single_device_latency_s", single >= 0 ? json_real(single) : json_null());
    mx_json_set(o, "kind", json_string(m->kind == SPEC_DECODER ? "decoder" : "encoder"));
    if (m->kind == SPEC_DECODER) {
        mx_json_set(o, "context_tokens", json_integer(m->decoder.context_tokens));
        mx_json_set(o, "reference_input_tokens", json_integer(m->decoder.reference_input_tokens));
        mx_json_set(o, "reference_ttft_s", json_real(m->decoder.reference_ttft_s));
        mx_json_set(o, "reference_tpot_s", json_real(m->decoder.reference_tpot_s));
    }
    return o;
}

static void print_text(const char *path, const struct spec_profile *db)
{
    printf("profile DB %s: hardware %s, %u models\n", path, spec_profile_hardware(db),
           spec_profile_model_count(db));
    json_t *prov = provenance_summary(db);
    if (json_is_object(prov)) {
        const char *key;
        json_t *v;
        json_object_foreach(prov, key, v)
        {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("  %s: %s\n", key, text ? text : "?");
            free(text);
        }
    }
    json_decref(prov);
    printf("\n%-18s %8s %-34s %-18s %s\n", "model", "configs", "parallel configs", "batches",
           "1-device ms");
    for (uint32_t k = 0; k < spec_profile_model_count(db); k++) {
        const struct spec_profile_model *m = spec_profile_model(db, k);
        char configs[4096], batches[256];
        configs_text(m, configs, sizeof(configs));
        batches_text(m, batches, sizeof(batches));
        double single = spec_profile_single_device_latency_s(db, m->name);
        printf("%-18s %8u %-34s %-18s ", m->name, m->n_configs, configs, batches);
        if (single >= 0)
            printf("%.3f\n", single * 1e3);
        else
            printf("-\n");
    }
    bool header = false;
    for (uint32_t k = 0; k < spec_profile_model_count(db); k++) {
        const struct spec_profile_model *m = spec_profile_model(db, k);
        if (m->kind != SPEC_DECODER)
            continue;
        if (!header)
            printf("\n%-18s %8s %10s %16s %16s\n", "decoder", "context", "reference",
                   "reference TTFT", "reference TPOT");
        header = true;
        printf("%-18s %8u %10u %13.3f ms %13.3f ms\n", m->name, m->decoder.context_tokens,
               m->decoder.reference_input_tokens, m->decoder.reference_ttft_s * 1e3,
               m->decoder.reference_tpot_s * 1e3);
    }
}

int cli_profile_show(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    int rc = MX_OK;
    for (int i = 1; i < argc && rc == MX_OK; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (argv[i][0] == '-' || path)
            rc = cli_usage_error("profile show", "unexpected argument \"%s\"", argv[i]);
        else
            path = argv[i];
    }
    if (rc == MX_OK && !path)
        rc = cli_usage_error("profile show", "which profile DB?");
    struct spec_profile *db = NULL;
    if (rc == MX_OK)
        rc = spec_profile_load(path, &db);
    if (rc == MX_OK && json) {
        json_t *models = json_array();
        for (uint32_t k = 0; k < spec_profile_model_count(db); k++)
            mx_json_append(models, model_json(db, spec_profile_model(db, k)));
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "profile", path, "hardware",
                              spec_profile_hardware(db), "provenance", provenance_summary(db),
                              "models", models);
        rc = mx_json_print(stdout, o);
        json_decref(o);
    } else if (rc == MX_OK) {
        print_text(path, db);
    }
    spec_profile_free(db);
    return rc == MX_OK ? 0 : cli_report(rc);
}
