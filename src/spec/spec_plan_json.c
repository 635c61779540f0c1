/* Plan files: the JSON reader with its structural checks, and the writer. */
#include "spec_plan.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_strmap.h"
#include "mx_time.h"

#include <stdlib.h>
#include <string.h>

static const char *const extra_keys[] = {"policy",    "dispatch",   "max_batch", "parameters",
                                         "predicted", "provenance", "unplaced",  "note"};
#define N_EXTRA_KEYS (sizeof(extra_keys) / sizeof(extra_keys[0]))

/* A group's informational members, carried through. */
static const char *const group_info_keys[] = {"kv_pool_bytes", "predicted"};
#define N_GROUP_INFO_KEYS (sizeof(group_info_keys) / sizeof(group_info_keys[0]))

static void release_segment(struct spec_plan_segment *s)
{
    for (uint32_t g = 0; g < s->n_groups; g++) {
        free(s->groups[g].devices);
        free(s->groups[g].models);
        json_decref(s->groups[g].info);
    }
    free(s->groups);
}

void spec_plan_free(struct spec_plan *p)
{
    if (!p)
        return;
    for (uint32_t m = 0; m < p->n_models; m++) {
        free(p->models[m].name);
        free(p->models[m].base);
    }
    for (uint32_t s = 0; s < p->n_segments; s++)
        release_segment(&p->segments[s]);
    free(p->models);
    free(p->segments);
    free(p->path);
    json_decref(p->extra);
    free(p);
}

const char *spec_plan_dispatch(const struct spec_plan *p)
{
    return json_string_value(json_object_get(p->extra, "dispatch"));
}

uint32_t spec_plan_max_batch(const struct spec_plan *p)
{
    json_t *b = json_object_get(p->extra, "max_batch");
    return b ? (uint32_t)json_integer_value(b) : 1;
}

int32_t spec_plan_find_model(const struct spec_plan *p, const char *name)
{
    for (uint32_t m = 0; m < p->n_models; m++)
        if (strcmp(p->models[m].name, name) == 0)
            return (int32_t)m;
    return -1;
}

char *spec_plan_describe_groups(const struct spec_plan *p)
{
    const struct spec_plan_segment *s = &p->segments[p->n_segments - 1];
    char *text = p->n_segments > 1 ? mx_strfmt("%u windows of ", p->n_segments) : mx_strdup("");
    for (uint32_t g = 0; g < s->n_groups;) {
        uint32_t run = 1;
        while (g + run < s->n_groups && s->groups[g + run].op == s->groups[g].op &&
               s->groups[g + run].pp == s->groups[g].pp)
            run++;
        char *next = mx_strfmt("%s%s%u x (1,%d,%d)", text, g ? " + " : "", run, s->groups[g].op,
                               s->groups[g].pp);
        free(text);
        text = next;
        g += run;
    }
    return text;
}

static int read_models(const struct mx_jpath *root, json_t *doc, struct spec_plan *p,
                       struct mx_strmap *names)
{
    static const char *const keys[] = {"name", "base", NULL};
    struct mx_jpath mp = mx_jpath_key(root, "models");
    json_t *models;
    size_t n;
    int rc;
    if ((rc = mx_json_get(root, doc, "models", &models)) < 0 ||
        (rc = mx_json_expect_array(&mp, models, 1, &n)) < 0)
        return rc;
    p->models = MX_NEW_ARRAY(struct spec_plan_model, n);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ip = mx_jpath_index(&mp, i);
        json_t *entry = json_array_get(models, i);
        const char *name, *base;
        if ((rc = mx_json_expect_object(&ip, entry)) < 0 ||
            (rc = mx_json_check_keys(&ip, entry, keys)) < 0 ||
            (rc = mx_json_get_str(&ip, entry, "name", &name)) < 0 ||
            (rc = mx_json_get_str(&ip, entry, "base", &base)) < 0)
            return rc;
        p->models[i].name = mx_strdup(name);
        p->models[i].base = mx_strdup(base);
        p->n_models++;
        if (!mx_strmap_put(names, p->models[i].name, (uint32_t)i)) {
            struct mx_jpath np = mx_jpath_key(&ip, "name");
            return mx_jpath_error(&np, "model \"%s\" appears twice", name);
        }
    }
    return MX_OK;
}

static int read_index_list(const struct mx_jpath *at, json_t *obj, const char *key, uint32_t *n_out,
                           uint32_t **out)
{
    json_t *array;
    size_t n;
    struct mx_jpath ap = mx_jpath_key(at, key);
    int rc;
    if ((rc = mx_json_get(at, obj, key, &array)) < 0 ||
        (rc = mx_json_expect_array(&ap, array, 1, &n)) < 0)
        return rc;
    *out = MX_NEW_ARRAY(uint32_t, n);
    *n_out = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ep = mx_jpath_index(&ap, i);
        int64_t v;
        if ((rc = mx_json_to_i64(&ep, json_array_get(array, i), 0, UINT32_MAX - 1, &v)) < 0)
            return rc;
        (*out)[i] = (uint32_t)v;
    }
    return MX_OK;
}

static int read_group_models(const struct mx_jpath *at, json_t *obj, const struct mx_strmap *names,
                             struct spec_plan_group *g)
{
    json_t *array;
    size_t n;
    struct mx_jpath ap = mx_jpath_key(at, "models");
    int rc;
    if ((rc = mx_json_get(at, obj, "models", &array)) < 0 ||
        (rc = mx_json_expect_array(&ap, array, 0, &n)) < 0)
        return rc;
    g->models = MX_NEW_ARRAY(uint32_t, n);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ep = mx_jpath_index(&ap, i);
        json_t *entry = json_array_get(array, i);
        const char *name;
        uint32_t index;
        if (json_is_object(entry))
            rc = mx_json_get_str(&ep, entry, "name", &name);
        else
            rc = mx_json_to_str(&ep, entry, &name);
        if (rc < 0)
            return rc;
        if (!mx_strmap_get(names, name, &index))
            return mx_jpath_error(&ep, "model \"%s\" is not in the plan's \"models\"", name);
        for (uint32_t j = 0; j < g->n_models; j++)
            if (g->models[j] == index)
                return mx_jpath_error(&ep, "model \"%s\" is on this group twice", name);
        g->models[g->n_models++] = index;
    }
    return MX_OK;
}

static int read_group(const struct mx_jpath *at, json_t *obj, const struct mx_strmap *names,
                      struct spec_plan_group *g)
{
    static const char *const keys[] = {
        "id",        "devices",       "dp",        "op", "pp", "models", "load_s",
        "scheduler", "kv_pool_bytes", "predicted", NULL};
    int64_t id, dp, op, pp;
    int rc;
    if ((rc = mx_json_expect_object(at, obj)) < 0 || (rc = mx_json_check_keys(at, obj, keys)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "id", 0, INT32_MAX, &id)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "dp", 1, 4096, &dp)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "op", 1, 4096, &op)) < 0 ||
        (rc = mx_json_get_i64(at, obj, "pp", 1, 4096, &pp)) < 0 ||
        (rc = mx_json_opt_f64(at, obj, "load_s", 0, SPEC_PLAN_MAX_LOAD_S, &g->load_s, NULL)) < 0)
        return rc;
    json_t *scheduler = json_object_get(obj, "scheduler");
    struct mx_jpath sp = mx_jpath_key(at, "scheduler");
    if ((rc = spec_scheduler_read(&sp, scheduler, &g->scheduler)) < 0)
        return rc;
    g->has_scheduler = scheduler != NULL;
    for (size_t k = 0; k < N_GROUP_INFO_KEYS; k++) {
        json_t *v = json_object_get(obj, group_info_keys[k]);
        if (!v)
            continue;
        if (!g->info)
            g->info = json_object();
        mx_json_set(g->info, group_info_keys[k], json_incref(v));
    }
    g->id = (int32_t)id;
    g->dp = (int32_t)dp;
    g->op = (int32_t)op;
    g->pp = (int32_t)pp;
    if ((rc = read_index_list(at, obj, "devices", &g->n_devices, &g->devices)) < 0 ||
        (rc = read_group_models(at, obj, names, g)) < 0)
        return rc;
    if ((int64_t)g->n_devices != dp * op * pp) {
        struct mx_jpath dvp = mx_jpath_key(at, "devices");
        return mx_jpath_error(&dvp, "%u devices, but the config (%d, %d, %d) needs %lld",
                              g->n_devices, g->dp, g->op, g->pp, (long long)(dp * op * pp));
    }
    for (uint32_t i = 0; i < g->n_devices; i++)
        for (uint32_t j = 0; j < i; j++)
            if (g->devices[i] == g->devices[j]) {
                struct mx_jpath dvp = mx_jpath_key(at, "devices");
                return mx_jpath_error(&dvp, "device %u appears twice", g->devices[i]);
            }
    return MX_OK;
}

static int read_groups(const struct mx_jpath *at, json_t *groups, const struct mx_strmap *names,
                       struct spec_plan_segment *s)
{
    size_t n;
    int rc = mx_json_expect_array(at, groups, 0, &n);
    if (rc < 0)
        return rc;
    s->groups = MX_NEW_ARRAY(struct spec_plan_group, n);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath gp = mx_jpath_index(at, i);
        rc = read_group(&gp, json_array_get(groups, i), names, &s->groups[i]);
        s->n_groups++;
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (s->groups[j].id == s->groups[i].id) {
                struct mx_jpath ip = mx_jpath_key(&gp, "id");
                return mx_jpath_error(&ip, "group id %d appears twice", s->groups[i].id);
            }
    }
    return MX_OK;
}

static int read_schedule(const struct mx_jpath *root, json_t *schedule,
                         const struct mx_strmap *names, struct spec_plan *p)
{
    static const char *const keys[] = {"start_s", "groups", NULL};
    struct mx_jpath sp = mx_jpath_key(root, "schedule");
    size_t n;
    int rc = mx_json_expect_array(&sp, schedule, 1, &n);
    if (rc < 0)
        return rc;
    p->segments = MX_NEW_ARRAY(struct spec_plan_segment, n);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ip = mx_jpath_index(&sp, i);
        json_t *entry = json_array_get(schedule, i), *groups;
        struct spec_plan_segment *s = &p->segments[i];
        p->n_segments++;
        if ((rc = mx_json_expect_object(&ip, entry)) < 0 ||
            (rc = mx_json_check_keys(&ip, entry, keys)) < 0 ||
            (rc = mx_json_get_f64(&ip, entry, "start_s", 0, MX_MAX_TIME_S, &s->start_s)) < 0 ||
            (rc = mx_json_get(&ip, entry, "groups", &groups)) < 0)
            return rc;
        struct mx_jpath gp = mx_jpath_key(&ip, "groups");
        if ((rc = read_groups(&gp, groups, names, s)) < 0)
            return rc;
        if (i > 0 && !(s->start_s > p->segments[i - 1].start_s)) {
            struct mx_jpath tp = mx_jpath_key(&ip, "start_s");
            return mx_jpath_error(&tp, "start times must increase (%g after %g)", s->start_s,
                                  p->segments[i - 1].start_s);
        }
    }
    return MX_OK;
}

int spec_plan_read(const char *path, struct spec_plan **out)
{
    struct mx_jpath root = mx_jpath_root(path);
    struct spec_plan *p = MX_NEW(struct spec_plan);
    struct mx_strmap names;
    json_t *doc = NULL, *groups, *schedule;
    const char *key;
    json_t *value;
    int rc;
    mx_strmap_init(&names);
    p->path = mx_strdup(path);
    p->extra = json_object();
    if ((rc = mx_json_load(path, &doc)) < 0 ||
        (rc = mx_json_check_format(&root, doc, "plan", 1)) < 0)
        goto done;
    json_object_foreach(doc, key, value)
    {
        bool known = !strcmp(key, "format") || !strcmp(key, "models") || !strcmp(key, "groups") ||
                     !strcmp(key, "schedule");
        for (size_t k = 0; k < N_EXTRA_KEYS && !known; k++)
            if (!strcmp(key, extra_keys[k])) {
                known = true;
                mx_json_set(p->extra, key, json_incref(value));
            }
        if (!known) {
            rc = mx_jpath_error(&root, "unknown member \"%s\"", key);
            goto done;
        }
    }
    json_t *dispatch = json_object_get(doc, "dispatch");
    if (dispatch && !json_is_string(dispatch)) {
        struct mx_jpath dp = mx_jpath_key(&root, "dispatch");
        rc = mx_jpath_error(&dp, "expected the name of a dispatch policy");
        goto done;
    }
    json_t *max_batch = json_object_get(doc, "max_batch");
    if (max_batch && (!json_is_integer(max_batch) || json_integer_value(max_batch) < 1 ||
                      json_integer_value(max_batch) > SPEC_PLAN_MAX_BATCH)) {
        struct mx_jpath bp = mx_jpath_key(&root, "max_batch");
        rc = mx_jpath_error(&bp, "expected an integer from 1 to %d", SPEC_PLAN_MAX_BATCH);
        goto done;
    }
    if ((rc = read_models(&root, doc, p, &names)) < 0)
        goto done;
    groups = json_object_get(doc, "groups");
    schedule = json_object_get(doc, "schedule");
    if (!groups == !schedule) {
        rc = mx_jpath_error(&root, "give exactly one of \"groups\" and \"schedule\"");
        goto done;
    }
    if (groups) {
        struct mx_jpath gp = mx_jpath_key(&root, "groups");
        p->static_form = 1;
        p->segments = MX_NEW(struct spec_plan_segment);
        p->n_segments = 1;
        rc = read_groups(&gp, groups, &names, &p->segments[0]);
    } else {
        rc = read_schedule(&root, schedule, &names, p);
    }
    if (rc < 0)
        goto done;
    *out = p;
    p = NULL;
done:
    mx_strmap_release(&names);
    spec_plan_free(p);
    json_decref(doc);
    return rc;
}

static json_t *groups_json(const struct spec_plan *p, const struct spec_plan_segment *s)
{
    json_t *groups = json_array();
    for (uint32_t i = 0; i < s->n_groups; i++) {
        const struct spec_plan_group *g = &s->groups[i];
        json_t *entry = json_object(), *devices = json_array(), *models = json_array();
        for (uint32_t d = 0; d < g->n_devices; d++)
            mx_json_append(devices, json_integer(g->devices[d]));
        for (uint32_t m = 0; m < g->n_models; m++)
            mx_json_append(models, json_string(p->models[g->models[m]].name));
        mx_json_set(entry, "id", json_integer(g->id));
        mx_json_set(entry, "devices", devices);
        mx_json_set(entry, "dp", json_integer(g->dp));
        mx_json_set(entry, "op", json_integer(g->op));
        mx_json_set(entry, "pp", json_integer(g->pp));
        mx_json_set(entry, "models", models);
        if (g->load_s > 0)
            mx_json_set(entry, "load_s", json_real(g->load_s));
        if (g->has_scheduler)
            mx_json_set(entry, "scheduler", spec_scheduler_json(&g->scheduler));
        for (size_t k = 0; g->info && k < N_GROUP_INFO_KEYS; k++) {
            json_t *v = json_object_get(g->info, group_info_keys[k]);
            if (v)
                mx_json_set(entry, group_info_keys[k], json_incref(v));
        }
        mx_json_append(groups, entry);
    }
    return groups;
}

int spec_plan_write(const struct spec_plan *p, const char *path)
{
    json_t *doc = json_object(), *models = json_array();
    mx_json_set(doc, "format", json_string("muxplan-plan/1"));
    for (size_t k = 0; k < N_EXTRA_KEYS; k++) {
        json_t *v = json_object_get(p->extra, extra_keys[k]);
        if (v)
            mx_json_set(doc, extra_keys[k], json_incref(v));
    }
    for (uint32_t m = 0; m < p->n_models; m++)
        mx_json_append(models,
                       json_pack("{ssss}", "name", p->models[m].name, "base", p->models[m].base));
    mx_json_set(doc, "models", models);
    if (p->static_form && p->n_segments == 1) {
        mx_json_set(doc, "groups", groups_json(p, &p->segments[0]));
    } else {
        json_t *schedule = json_array();
        for (uint32_t s = 0; s < p->n_segments; s++) {
            json_t *entry = json_object();
            mx_json_set(entry, "start_s", json_real(p->segments[s].start_s));
            mx_json_set(entry, "groups", groups_json(p, &p->segments[s]));
            mx_json_append(schedule, entry);
        }
        mx_json_set(doc, "schedule", schedule);
    }
    int rc = mx_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}
