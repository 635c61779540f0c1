/* The paged KV cache (kern_kv.h): one array of blocks, each [layers][K, V][kv_heads][16 head_dim]
 * floats (keys transposed, values as rows), so that a block is one contiguous piece of memory and
 * the keys (values) of one head of one layer are 16 head_dim contiguous floats; a stack of free
 * block ids and a bitmap of taken ones. */
#include "kern_kv.h"

#include "mx_alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct kern_kv_pool {
    int64_t layers, kv_heads, head_dim;
    int32_t n_blocks;
    size_t block_floats, head_floats; /* floats in a block; in one head's K (or V) of one layer */
    float *data;                      /* [n_blocks][block_floats] */
    int32_t *free_ids;                /* stack: free_ids[0 .. n_free) */
    int32_t n_free;
    bool *taken; /* [n_blocks] */
};

size_t kern_kv_block_bytes(int64_t layers, int64_t kv_heads, int64_t head_dim)
{
    return (size_t)layers * 2 * (size_t)kv_heads * KERN_KV_BLOCK_TOKENS * (size_t)head_dim *
           sizeof(float);
}

struct kern_kv_pool *kern_kv_pool_new(int64_t layers, int64_t kv_heads, int64_t head_dim,
                                      int32_t n_blocks)
{
    if (layers < 1 || kv_heads < 1 || head_dim < 1 || n_blocks < 1)
        MX_BUG("KV pool of %lld layers, %lld heads of %lld, %d blocks", (long long)layers,
               (long long)kv_heads, (long long)head_dim, (int)n_blocks);
    struct kern_kv_pool *pool = MX_NEW(struct kern_kv_pool);
    pool->layers = layers;
    pool->kv_heads = kv_heads;
    pool->head_dim = head_dim;
    pool->n_blocks = n_blocks;
    pool->head_floats = (size_t)KERN_KV_BLOCK_TOKENS * (size_t)head_dim;
    pool->block_floats = kern_kv_block_bytes(layers, kv_heads, head_dim) / sizeof(float);
    pool->data = mx_malloc_huge((size_t)n_blocks, pool->block_floats * sizeof(float));
    pool->free_ids = mx_malloc_array((size_t)n_blocks, sizeof(int32_t));
    for (int32_t i = 0; i < n_blocks; i++)
        pool->free_ids[i] = n_blocks - 1 - i; /* the top of the stack is block 0 */
    pool->n_free = n_blocks;
    pool->taken = mx_calloc((size_t)n_blocks, sizeof(bool));
    return pool;
}

void kern_kv_pool_free(struct kern_kv_pool *pool)
{
    if (!pool)
        return;
    free(pool->data);
    free(pool->free_ids);
    free(pool->taken);
    free(pool);
}

int32_t kern_kv_pool_blocks(const struct kern_kv_pool *pool)
{
    return pool->n_blocks;
}

int64_t kern_kv_pool_layers(const struct kern_kv_pool *pool)
{
    return pool->layers;
}

int64_t kern_kv_pool_kv_heads(const struct kern_kv_pool *pool)
{
    return pool->kv_heads;
}

int64_t kern_kv_pool_head_dim(const struct kern_kv_pool *pool)
{
    return pool->head_dim;
}

int32_t kern_kv_alloc(struct kern_kv_pool *pool)
{
    if (pool->n_free == 0)
        return -1;
    int32_t id = pool->free_ids[--pool->n_free];
    pool->taken[id] = true;
    return id;
}

void kern_kv_release(struct kern_kv_pool *pool, int32_t block)
{
    if (block < 0 || block >= pool->n_blocks || !pool->taken[block])
        MX_BUG("releasing KV block %d, which is not taken", (int)block);
    pool->taken[block] = false;
    pool->free_ids[pool->n_free++] = block;
}

int32_t kern_kv_free_blocks(const struct kern_kv_pool *pool)
{
    return pool->n_free;
}

static float *head_rows(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head,
                        int64_t kv)
{
    if (block < 0 || block >= pool->n_blocks || layer < 0 || layer >= pool->layers || head < 0 ||
        head >= pool->kv_heads)
        MX_BUG("KV block %d layer %lld head %lld outside the pool", (int)block, (long long)layer,
               (long long)head);
    size_t index = ((size_t)layer * 2 + (size_t)kv) * (size_t)pool->kv_heads + (size_t)head;
    return pool->data + (size_t)block * pool->block_floats + index * pool->head_floats;
}

float *kern_kv_keys(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head)
{
    return head_rows(pool, block, layer, head, 0);
}

float *kern_kv_values(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head)
{
    return head_rows(pool, block, layer, head, 1);
}

static void check_slot(int64_t slot)
{
    if (slot < 0 || slot >= KERN_KV_BLOCK_TOKENS)
        MX_BUG("KV slot %lld outside a block", (long long)slot);
}

void kern_kv_put(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head,
                 int64_t slot, const float *key, const float *value)
{
    check_slot(slot);
    float *k = kern_kv_keys(pool, block, layer, head),
          *v = kern_kv_values(pool, block, layer, head);
    for (int64_t i = 0; i < pool->head_dim; i++)
        k[i * KERN_KV_BLOCK_TOKENS + slot] = key[i];
    memcpy(v + slot * pool->head_dim, value, (size_t)pool->head_dim * sizeof(float));
}

void kern_kv_get(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head,
                 int64_t slot, float *key, float *value)
{
    check_slot(slot);
    const float *k = kern_kv_keys(pool, block, layer, head);
    const float *v = kern_kv_values(pool, block, layer, head);
    for (int64_t i = 0; i < pool->head_dim; i++)
        key[i] = k[i * KERN_KV_BLOCK_TOKENS + slot];
    memcpy(value, v + slot * pool->head_dim, (size_t)pool->head_dim * sizeof(float));
}

void kern_kv_table_append(struct kern_kv_table *t, int32_t block)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->blocks = mx_realloc_array(t->blocks, (size_t)t->cap, sizeof(int32_t));
    }
    t->blocks[t->n++] = block;
}

void kern_kv_table_truncate(struct kern_kv_table *t, int64_t n)
{
    if (n < 0 || n > t->n)
        MX_BUG("truncating a block table of %lld blocks to %lld", (long long)t->n, (long long)n);
    t->n = n;
}

void kern_kv_table_release_blocks(struct kern_kv_table *t, struct kern_kv_pool *pool)
{
    for (int64_t i = 0; i < t->n; i++)
        kern_kv_release(pool, t->blocks[i]);
    t->n = 0;
}

void kern_kv_table_free(struct kern_kv_table *t)
{
    free(t->blocks);
    *t = (struct kern_kv_table){0};
}
