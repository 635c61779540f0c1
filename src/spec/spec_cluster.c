/* Cluster spec reading and writing, and the overhead presets.
 *
 * The presets reproduce AlpaServe's constants: "alpaserve" those of its event simulator (client,
 * dispatch and execution overheads drawn from |Normal|, a 4 ms admission margin); "alpaserve-fast"
 * those of its fast simulator (no random overheads, 11 ms added to every finish and used as the
 * admission margin, stage latencies multiplied by 1 + 0.009 pp). */
#include "spec_cluster.h"

#include "mx_error.h"
#include "mx_json.h"

#include <stdio.h>
#include <string.h>

const char *const spec_overhead_names[SPEC_OH_COUNT] = {"client", "dispatch", "exec", "fixed",
                                                        "reply"};

bool spec_overheads_preset(const char *name, struct spec_overheads *out)
{
    memset(out, 0, sizeof(*out));
    out->stage_factor = 1;
    if (strcmp(name, "none") == 0) {
        /* all zero */
    } else if (strcmp(name, "alpaserve") == 0) {
        out->term[SPEC_OH_CLIENT] = (struct spec_overhead){0.0025, 0.0005};
        out->term[SPEC_OH_DISPATCH] = (struct spec_overhead){0.0025, 0.0005};
        out->term[SPEC_OH_EXEC] = (struct spec_overhead){0.005, 0.0005};
        out->term[SPEC_OH_FIXED] = (struct spec_overhead){0.004, 0};
    } else if (strcmp(name, "alpaserve-fast") == 0) {
        out->term[SPEC_OH_FIXED] = (struct spec_overhead){0.011, 0};
        out->term[SPEC_OH_REPLY] = (struct spec_overhead){0.011, 0};
        out->stage_factor_per_pp = 0.009;
    } else {
        return false;
    }
    snprintf(out->preset, sizeof(out->preset), "%s", name);
    return true;
}

bool spec_overheads_constant(const struct spec_overheads *o)
{
    for (int t = 0; t < SPEC_OH_COUNT; t++)
        if (o->term[t].sd_s != 0)
            return false;
    return true;
}

static int read_term(const struct mx_jpath *at, json_t *v, struct spec_overhead *out)
{
    static const char *const keys[] = {"mean", "sd", NULL};
    int rc;
    if (!json_is_object(v)) {
        out->sd_s = 0;
        return mx_json_to_f64(at, v, 0, 60, &out->mean_s);
    }
    if ((rc = mx_json_check_keys(at, v, keys)) < 0 ||
        (rc = mx_json_get_f64(at, v, "mean", 0, 60, &out->mean_s)) < 0 ||
        (rc = mx_json_get_f64(at, v, "sd", 0, 60, &out->sd_s)) < 0)
        return rc;
    return MX_OK;
}

static int read_overheads(const struct mx_jpath *at, json_t *obj, struct spec_overheads *out)
{
    static const char *const keys[] = {"preset", "client", "dispatch",     "exec",
                                       "fixed",  "reply",  "stage_factor", "stage_factor_per_pp",
                                       NULL};
    const char *preset = "none";
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_opt_str(at, obj, "preset", &preset, NULL)) < 0)
        return rc;
    if (!spec_overheads_preset(preset, out)) {
        struct mx_jpath pp = mx_jpath_key(at, "preset");
        return mx_jpath_error(&pp,
                              "unknown preset \"%s\" (expected none, alpaserve or "
                              "alpaserve-fast)",
                              preset);
    }
    for (int t = 0; t < SPEC_OH_COUNT; t++) {
        json_t *v = json_object_get(obj, spec_overhead_names[t]);
        struct mx_jpath tp = mx_jpath_key(at, spec_overhead_names[t]);
        if (v && (rc = read_term(&tp, v, &out->term[t])) < 0)
            return rc;
    }
    if ((rc = mx_json_opt_f64(at, obj, "stage_factor", 0.01, 100, &out->stage_factor, NULL)) < 0 ||
        (rc = mx_json_opt_f64(at, obj, "stage_factor_per_pp", 0, 10, &out->stage_factor_per_pp,
                              NULL)) < 0)
        return rc;
    return MX_OK;
}

void spec_cluster_defaults(struct spec_cluster *c)
{
    memset(c, 0, sizeof(*c));
    spec_overheads_preset("none", &c->overheads);
    c->decoder = spec_llm_settings_default();
}

int spec_cluster_read(const char *path, struct spec_cluster *out)
{
    static const char *const keys[] = {"format",
                                       "name",
                                       "devices",
                                       "devices_per_node",
                                       "mem_budget_bytes",
                                       "load_bandwidth_bytes_per_s",
                                       "overheads",
                                       "cpu_cores",
                                       "controller_core",
                                       "decoder",
                                       "interference",
                                       "stage_time",
                                       NULL};
    struct mx_jpath root = mx_jpath_root(path);
    json_t *doc = NULL, *overheads;
    int64_t devices, per_node, budget;
    const char *name;
    int rc;
    spec_cluster_defaults(out);
    if ((rc = mx_json_load(path, &doc)) < 0)
        return rc;
    if ((rc = mx_json_check_format(&root, doc, "cluster", 1)) < 0 ||
        (rc = mx_json_check_keys(&root, doc, keys)) < 0 ||
        (rc = mx_json_opt_str(&root, doc, "name", &name, NULL)) < 0 ||
        (rc = mx_json_get_i64(&root, doc, "devices", 1, SPEC_MAX_DEVICES, &devices)) < 0 ||
        (rc = mx_json_get_i64(&root, doc, "devices_per_node", 1, SPEC_MAX_DEVICES, &per_node)) <
            0 ||
        (rc = mx_json_get_i64(&root, doc, "mem_budget_bytes", 0, INT64_MAX / 4, &budget)) < 0 ||
        (rc = mx_json_opt_f64(&root, doc, "load_bandwidth_bytes_per_s", 1, 1e15,
                              &out->load_bandwidth_bytes_per_s, NULL)) < 0)
        goto done;
    if (devices % per_node != 0 && devices > per_node) {
        struct mx_jpath dp = mx_jpath_key(&root, "devices");
        rc = mx_jpath_error(&dp, "%lld devices do not fill whole nodes of %lld", (long long)devices,
                            (long long)per_node);
        goto done;
    }
    out->devices = (uint32_t)devices;
    out->devices_per_node = (uint32_t)per_node;
    out->mem_budget_bytes = budget;
    if ((overheads = json_object_get(doc, "overheads"))) {
        struct mx_jpath op = mx_jpath_key(&root, "overheads");
        if ((rc = read_overheads(&op, overheads, &out->overheads)) < 0)
            goto done;
    }
    struct mx_jpath dp = mx_jpath_key(&root, "decoder");
    if ((rc = spec_llm_settings_read(&dp, json_object_get(doc, "decoder"), &out->decoder)) < 0)
        goto done;
    json_t *v;
    if ((v = json_object_get(doc, "interference"))) {
        struct mx_jpath ip = mx_jpath_key(&root, "interference");
        if ((rc = spec_interference_read(&ip, v, &out->interference)) < 0)
            goto done;
    }
    if ((v = json_object_get(doc, "stage_time"))) {
        struct mx_jpath sp = mx_jpath_key(&root, "stage_time");
        rc = spec_dist_read(&sp, v, &out->stage_time);
    }
done:
    json_decref(doc);
    return rc;
}

bool spec_cluster_varies(const struct spec_cluster *c)
{
    return c->interference.n > 0 || spec_dist_varies(&c->stage_time);
}

int spec_cluster_write(const struct spec_cluster *c, const char *path)
{
    const struct spec_overheads *o = &c->overheads;
    json_t *doc = json_object(), *oh = json_object();
    mx_json_set(doc, "format", json_string("muxplan-cluster/1"));
    mx_json_set(doc, "devices", json_integer(c->devices));
    mx_json_set(doc, "devices_per_node", json_integer(c->devices_per_node));
    mx_json_set(doc, "mem_budget_bytes", json_integer(c->mem_budget_bytes));
    if (c->load_bandwidth_bytes_per_s > 0)
        mx_json_set(doc, "load_bandwidth_bytes_per_s", json_real(c->load_bandwidth_bytes_per_s));
    if (o->preset[0])
        mx_json_set(oh, "preset", json_string(o->preset));
    for (int t = 0; t < SPEC_OH_COUNT; t++) {
        const struct spec_overhead *term = &o->term[t];
        if (term->sd_s > 0)
            mx_json_set(oh, spec_overhead_names[t],
                        json_pack("{sfsf}", "mean", term->mean_s, "sd", term->sd_s));
        else
            mx_json_set(oh, spec_overhead_names[t], json_real(term->mean_s));
    }
    mx_json_set(oh, "stage_factor", json_real(o->stage_factor));
    mx_json_set(oh, "stage_factor_per_pp", json_real(o->stage_factor_per_pp));
    mx_json_set(doc, "overheads", oh);
    struct spec_llm_settings defaults = spec_llm_settings_default();
    if (c->decoder.dispatch != defaults.dispatch || c->decoder.admission != defaults.admission ||
        c->decoder.block_tokens != defaults.block_tokens)
        mx_json_set(doc, "decoder", spec_llm_settings_json(&c->decoder));
    if (c->interference.n > 0)
        mx_json_set(doc, "interference", spec_interference_json(&c->interference));
    if (c->stage_time.kind != SPEC_DIST_CONSTANT)
        mx_json_set(doc, "stage_time", spec_dist_json(&c->stage_time));
    int rc = mx_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}
