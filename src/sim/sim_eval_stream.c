/* The requests each group key considers, kept for the incremental run (sim_eval_next.c): those of
 * the models the group hosts, in request order. A group that turns dirty walks its stream with one
 * cursor, where it would otherwise have to wake every model it hosts.
 *
 * A key's stream is rebuilt only when its model set changes, the cheaper of two ways: filtering
 * out the models it lost and merging in the ones it gained (linear in the stream per gained
 * model: a greedy step changes one key by one model), or one pass over all requests for every
 * changed key at once (the first incremental run of a placement builds every stream). */
#include "sim_eval_int.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

static uint32_t model_length(const struct sim_eval *e, uint32_t m)
{
    return e->request_begin[m + 1] - e->request_begin[m];
}

static void reserve_u32(uint32_t **p, uint32_t *cap, size_t n)
{
    if (n <= *cap)
        return;
    size_t grown = (size_t)*cap * 2 > n ? (size_t)*cap * 2 : n;
    *p = mx_realloc_array(*p, grown, sizeof(uint32_t));
    *cap = (uint32_t)grown;
}

/* Group g's models, sorted, into the set's scratch; returns how many. */
static uint32_t sorted_models(struct stream_set *ss, const struct sim_group_spec *spec)
{
    reserve_u32(&ss->set, &ss->set_cap, spec->n_models ? spec->n_models : 1);
    uint32_t *set = ss->set;
    for (uint32_t j = 0; j < spec->n_models; j++) {
        uint32_t m = spec->models[j], k = j; /* insertion sort: groups list few models, sorted */
        for (; k > 0 && set[k - 1] > m; k--)
            set[k] = set[k - 1];
        set[k] = m;
    }
    return spec->n_models;
}

static bool same_set(const struct group_stream *st, const uint32_t *set, uint32_t n)
{
    return st->n_models == n && (n == 0 || memcmp(st->models, set, n * sizeof(uint32_t)) == 0);
}

/* What filtering and merging would cost for a stream changing to set: its length, then its new
 * length once per gained model. */
static uint64_t edit_cost(const struct sim_eval *e, const struct group_stream *st,
                          const uint32_t *set, uint32_t n)
{
    uint64_t new_len = 0, gained = 0;
    uint32_t o = 0;
    for (uint32_t j = 0; j < n; j++) {
        new_len += model_length(e, set[j]);
        while (o < st->n_models && st->models[o] < set[j])
            o++;
        gained += !(o < st->n_models && st->models[o] == set[j]);
    }
    return st->n + gained * new_len;
}

static void set_models(struct group_stream *st, const uint32_t *set, uint32_t n)
{
    reserve_u32(&st->models, &st->cap_models, n ? n : 1);
    if (n > 0)
        memcpy(st->models, set, n * sizeof(uint32_t));
    st->n_models = n;
}

/* Merge model m's requests into st's, through the set's scratch buffer (which st's old buffer
 * becomes). */
static void merge_model(struct stream_set *ss, const struct sim_eval *e, struct group_stream *st,
                        uint32_t m)
{
    const uint32_t *add = e->request + e->request_begin[m];
    uint32_t n_add = model_length(e, m), i = 0, j = 0, n = 0;
    reserve_u32(&ss->scratch, &ss->scratch_cap, (size_t)st->n + n_add);
    uint32_t *out = ss->scratch;
    while (i < st->n && j < n_add)
        out[n++] = st->request[i] < add[j] ? st->request[i++] : add[j++];
    while (i < st->n)
        out[n++] = st->request[i++];
    while (j < n_add)
        out[n++] = add[j++];
    uint32_t *old = st->request, old_cap = st->cap;
    st->request = ss->scratch;
    st->cap = ss->scratch_cap;
    st->n = n;
    ss->scratch = old;
    ss->scratch_cap = old_cap;
}

/* A fresh mark: no model carries it yet. */
static uint32_t next_epoch(struct stream_set *ss, uint32_t n_models)
{
    if (++ss->epoch == 0) {
        memset(ss->mark, 0, n_models * sizeof(uint32_t));
        ss->epoch = 1;
    }
    return ss->epoch;
}

/* Change st to list the models of set: filter out the lost ones, merge in the gained ones. */
static void edit_stream(struct stream_set *ss, const struct sim_eval *e, struct group_stream *st,
                        const uint32_t *set, uint32_t n)
{
    next_epoch(ss, e->base.n_models);
    for (uint32_t j = 0; j < n; j++)
        ss->mark[set[j]] = ss->epoch;
    bool lost = false;
    for (uint32_t j = 0; j < st->n_models; j++)
        lost |= ss->mark[st->models[j]] != ss->epoch;
    if (lost) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < st->n; i++)
            if (ss->mark[e->base.model[st->request[i]]] == ss->epoch)
                st->request[kept++] = st->request[i];
        st->n = kept;
    }
    next_epoch(ss, e->base.n_models);
    for (uint32_t j = 0; j < st->n_models; j++)
        ss->mark[st->models[j]] = ss->epoch;
    for (uint32_t j = 0; j < n; j++)
        if (ss->mark[set[j]] != ss->epoch)
            merge_model(ss, e, st, set[j]);
    set_models(st, set, n);
    sim__index_build(&st->index, st->request, st->n, (uint32_t)e->base.n);
}

/* Rebuild the streams of the groups listed in changed from scratch, in one pass over all requests:
 * each request is appended to the streams of the changed keys that host its model. */
static void rebuild_streams(struct stream_set *ss, struct sim_eval_state *s,
                            const uint32_t *changed, uint32_t n_changed)
{
    const struct sim_eval *e = s->e;
    const uint32_t n_models = e->base.n_models;
    /* Model -> changed keys hosting it, as compressed rows. */
    uint32_t *begin = MX_NEW_ARRAY(uint32_t, (size_t)n_models + 1), n_links = 0;
    for (uint32_t c = 0; c < n_changed; c++) {
        const struct sim_group_spec *spec = &s->specs[changed[c]];
        struct group_stream *st = &ss->by_key[s->keys[changed[c]]];
        uint32_t n = sorted_models(ss, spec);
        set_models(st, ss->set, n);
        uint64_t len = 0;
        for (uint32_t j = 0; j < n; j++) {
            begin[ss->set[j] + 1]++;
            len += model_length(e, ss->set[j]);
        }
        reserve_u32(&st->request, &st->cap, len ? len : 1);
        st->n = 0;
        n_links += n;
    }
    for (uint32_t m = 0; m < n_models; m++)
        begin[m + 1] += begin[m];
    uint32_t *fill = mx_malloc_array(n_models ? n_models : 1, sizeof(uint32_t));
    uint32_t *key_of = mx_malloc_array(n_links ? n_links : 1, sizeof(uint32_t));
    memcpy(fill, begin, n_models * sizeof(uint32_t));
    for (uint32_t c = 0; c < n_changed; c++) {
        const struct group_stream *st = &ss->by_key[s->keys[changed[c]]];
        for (uint32_t j = 0; j < st->n_models; j++)
            key_of[fill[st->models[j]]++] = s->keys[changed[c]];
    }
    for (uint32_t i = 0; i < e->base.n; i++) {
        uint32_t m = (uint32_t)e->base.model[i];
        for (uint32_t l = begin[m]; l < begin[m + 1]; l++) {
            struct group_stream *st = &ss->by_key[key_of[l]];
            st->request[st->n++] = i;
        }
    }
    for (uint32_t c = 0; c < n_changed; c++) {
        struct group_stream *st = &ss->by_key[s->keys[changed[c]]];
        sim__index_build(&st->index, st->request, st->n, (uint32_t)e->base.n);
    }
    free(begin);
    free(fill);
    free(key_of);
}

void sim__streams_update(struct sim_eval_state *s)
{
    const struct sim_eval *e = s->e;
    struct stream_set *ss = &s->streams;
    const uint32_t n_groups = s->w.n_groups;
    if (!ss->by_key) {
        ss->by_key = MX_NEW_ARRAY(struct group_stream, e->key_limit ? e->key_limit : 1);
        ss->mark = MX_NEW_ARRAY(uint32_t, e->base.n_models ? e->base.n_models : 1);
    }
    reserve_u32(&ss->changed, &ss->changed_cap, n_groups ? n_groups : 1);
    uint32_t n_changed = 0;
    uint64_t edit = 0, rebuild = e->base.n;
    for (uint32_t g = 0; g < n_groups; g++) {
        const struct group_stream *st = &ss->by_key[s->keys[g]];
        uint32_t n = sorted_models(ss, &s->specs[g]);
        if (same_set(st, ss->set, n))
            continue;
        ss->changed[n_changed++] = g;
        edit += edit_cost(e, st, ss->set, n);
        for (uint32_t j = 0; j < n; j++)
            rebuild += model_length(e, ss->set[j]);
    }
    if (n_changed == 0)
        return;
    if (edit > rebuild) {
        rebuild_streams(ss, s, ss->changed, n_changed);
        return;
    }
    for (uint32_t c = 0; c < n_changed; c++) {
        uint32_t g = ss->changed[c];
        uint32_t n = sorted_models(ss, &s->specs[g]);
        edit_stream(ss, e, &ss->by_key[s->keys[g]], ss->set, n);
    }
}

void sim__streams_release(struct stream_set *ss, uint32_t key_limit)
{
    if (ss->by_key)
        for (uint32_t k = 0; k < key_limit; k++) {
            free(ss->by_key[k].request);
            free(ss->by_key[k].models);
            sim__index_release(&ss->by_key[k].index);
        }
    free(ss->by_key);
    free(ss->mark);
    free(ss->scratch);
    free(ss->set);
    free(ss->changed);
    *ss = (struct stream_set){0};
}
