/* The importer's containers: keys in order of first appearance, a growing list of arrivals (with
 * their token counts and a pool of block hashes), and a growing list of rate windows. */
#include "wl_import_int.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

void wl__keys_init(struct wl_keys *k)
{
    memset(k, 0, sizeof(*k));
    mx_strmap_init(&k->index);
}

void wl__keys_release(struct wl_keys *k)
{
    mx_strmap_release(&k->index);
    for (uint32_t i = 0; i < k->n; i++)
        free(k->names[i]);
    free(k->names);
    memset(k, 0, sizeof(*k));
}

uint32_t wl__keys_intern(struct wl_keys *k, const char *name)
{
    uint32_t index;
    if (mx_strmap_get(&k->index, name, &index))
        return index;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 16;
        k->names = mx_realloc_array(k->names, k->cap, sizeof(char *));
    }
    k->names[k->n] = mx_strdup(name);
    /* The map borrows the stored copy, which lives as long as the keys. */
    mx_strmap_put(&k->index, k->names[k->n], k->n);
    return k->n++;
}

void wl__arrivals_init(struct wl_arrivals *a)
{
    memset(a, 0, sizeof(*a));
    wl__keys_init(&a->keys);
}

void wl__arrivals_release(struct wl_arrivals *a)
{
    free(a->time_s);
    free(a->key);
    free(a->tokens);
    free(a->hashes);
    wl__keys_release(&a->keys);
    memset(a, 0, sizeof(*a));
}

void wl__arrivals_push(struct wl_arrivals *a, double time_s, uint32_t key,
                       const struct wl_request_tokens *tokens)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4096;
        a->time_s = mx_realloc_array(a->time_s, a->cap, sizeof(double));
        a->key = mx_realloc_array(a->key, a->cap, sizeof(uint32_t));
        if (a->has_tokens)
            a->tokens = mx_realloc_array(a->tokens, a->cap, sizeof(struct wl_request_tokens));
    }
    if (a->has_tokens)
        a->tokens[a->n] = *tokens;
    a->time_s[a->n] = time_s;
    a->key[a->n++] = key;
}

uint64_t wl__arrivals_add_hashes(struct wl_arrivals *a, const int64_t *hashes, size_t n)
{
    if (n == 0) /* a->hashes may still be NULL: no pointer into it */
        return a->n_hashes;
    if (a->n_hashes + n > a->hashes_cap) {
        a->hashes_cap = a->hashes_cap ? 2 * a->hashes_cap : 4096;
        if (a->hashes_cap < a->n_hashes + n)
            a->hashes_cap = a->n_hashes + n;
        a->hashes = mx_realloc_array(a->hashes, a->hashes_cap, sizeof(int64_t));
    }
    memcpy(a->hashes + a->n_hashes, hashes, n * sizeof(int64_t));
    a->n_hashes += n;
    return a->n_hashes - n;
}

void wl__arrivals_drop_hashes(struct wl_arrivals *a)
{
    free(a->hashes);
    a->hashes = NULL;
    a->n_hashes = a->hashes_cap = 0;
    a->has_hashes = false;
    for (size_t i = 0; a->has_tokens && i < a->n; i++)
        a->tokens[i].n_hashes = 0;
}

struct keyed_time {
    double time_s;
    uint32_t key;
    uint32_t pad;
    size_t order; /* position before sorting: makes the sort stable */
};

static int compare_keyed_time(const void *pa, const void *pb)
{
    const struct keyed_time *a = pa, *b = pb;
    if (a->time_s != b->time_s)
        return a->time_s < b->time_s ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

void wl__arrivals_sort(struct wl_arrivals *a)
{
    struct keyed_time *v = mx_malloc_array(a->n, sizeof(*v));
    for (size_t i = 0; i < a->n; i++)
        v[i] = (struct keyed_time){a->time_s[i], a->key[i], 0, i};
    qsort(v, a->n, sizeof(*v), compare_keyed_time);
    for (size_t i = 0; i < a->n; i++) {
        a->time_s[i] = v[i].time_s;
        a->key[i] = v[i].key;
    }
    if (a->has_tokens) {
        struct wl_request_tokens *sorted = mx_malloc_array(a->cap ? a->cap : 1, sizeof(*sorted));
        for (size_t i = 0; i < a->n; i++)
            sorted[i] = a->tokens[v[i].order];
        free(a->tokens);
        a->tokens = sorted;
    }
    free(v);
}

void wl__windows_init(struct wl_windows *w)
{
    memset(w, 0, sizeof(*w));
    wl__keys_init(&w->keys);
}

void wl__windows_release(struct wl_windows *w)
{
    for (size_t i = 0; i < w->n_lengths; i++)
        wl_lengths_free(w->lengths[i]);
    free(w->lengths);
    free(w->w);
    wl__keys_release(&w->keys);
    memset(w, 0, sizeof(*w));
}

void wl__windows_push(struct wl_windows *w, const struct wl_window *window)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->w = mx_realloc_array(w->w, w->cap, sizeof(struct wl_window));
    }
    w->w[w->n++] = *window;
    double end = window->start_s + window->length_s;
    if (end > w->end_s)
        w->end_s = end;
}

uint32_t wl__windows_add_lengths(struct wl_windows *w, struct wl_lengths *lengths)
{
    w->lengths = mx_realloc_array(w->lengths, w->n_lengths + 1, sizeof(struct wl_lengths *));
    w->lengths[w->n_lengths++] = lengths;
    return (uint32_t)w->n_lengths;
}
