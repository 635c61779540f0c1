/* The paged KV cache of decoder layers on the CPU: a pool of blocks of KERN_KV_BLOCK_TOKENS tokens
 * and the block tables that give a request's tokens their place in it (docs/decoders.md: "A group's
 * memory: the KV pool").
 *
 * A pool belongs to one device: one tensor-parallel rank of one pipeline stage. Each of its blocks
 * holds, for every layer of the stage and every KV head of the rank, the key and the value vectors
 * (head_dim floats each) of up to KERN_KV_BLOCK_TOKENS consecutive tokens of one request. A
 * request's cache is its block table: block i holds its tokens [16 i, 16 i + 16), so token p is
 * slot p % 16 of block table[p / 16]. Blocks may be anywhere in the pool, in any order.
 *
 * The pool stores and addresses data and decides nothing: which block a request takes, when it is
 * freed and who is preempted are the caller's policy (the scheduler's). For callers that want one,
 * the pool keeps a trivial free list (kern_kv_alloc, kern_kv_release) that only they drive; a
 * caller with its own bookkeeping may ignore it and address any block id. Nothing here is
 * thread-safe: a pool is used by the one thread that runs its device. */
#ifndef KERN_KV_H
#define KERN_KV_H

#include <stddef.h>
#include <stdint.h>

/* Tokens per block (docs/decoders.md's block_tokens default). */
#define KERN_KV_BLOCK_TOKENS 16

/* Blocks that hold tokens tokens: ceil(tokens / KERN_KV_BLOCK_TOKENS). */
static inline int64_t kern_kv_blocks_for(int64_t tokens)
{
    return (tokens + KERN_KV_BLOCK_TOKENS - 1) / KERN_KV_BLOCK_TOKENS;
}

/* Bytes of one block: layers * 2 (K and V) * kv_heads * KERN_KV_BLOCK_TOKENS * head_dim floats. */
size_t kern_kv_block_bytes(int64_t layers, int64_t kv_heads, int64_t head_dim);

struct kern_kv_pool;

/* A pool of n_blocks blocks (1 <= n_blocks <= INT32_MAX) for layers layers of kv_heads KV heads of
 * head_dim elements (all >= 1): n_blocks * kern_kv_block_bytes(...) bytes, allocated but not
 * written (huge pages where the system gives them: mx_malloc_huge), so creating a large pool costs
 * no time; a slot holds garbage until a forward pass writes it. Every block starts free, and
 * kern_kv_alloc hands them out in increasing id order. Free with kern_kv_pool_free(). */
struct kern_kv_pool *kern_kv_pool_new(int64_t layers, int64_t kv_heads, int64_t head_dim,
                                      int32_t n_blocks);
void kern_kv_pool_free(struct kern_kv_pool *pool);

int32_t kern_kv_pool_blocks(const struct kern_kv_pool *pool);
int64_t kern_kv_pool_layers(const struct kern_kv_pool *pool);
int64_t kern_kv_pool_kv_heads(const struct kern_kv_pool *pool);
int64_t kern_kv_pool_head_dim(const struct kern_kv_pool *pool);

/* The free list, O(1) each: kern_kv_alloc takes the block released last (or, before any release,
 * the lowest id not yet taken) and returns its id, or -1 when every block is taken;
 * kern_kv_release gives block back (releasing a block that is not taken is a bug: abort). The
 * contents of a block are not touched. kern_kv_free_blocks counts the blocks not taken. */
int32_t kern_kv_alloc(struct kern_kv_pool *pool);
void kern_kv_release(struct kern_kv_pool *pool, int32_t block);
int32_t kern_kv_free_blocks(const struct kern_kv_pool *pool);

/* The keys and the values of KV head head (0 <= head < kv_heads) of layer layer (0 <= layer <
 * layers) in block block (borrowed; valid until the pool is freed). Keys are stored transposed,
 * [head_dim][KERN_KV_BLOCK_TOKENS]: element i of slot s's key at [i][s], so that one query's scores
 * against a block's 16 keys are 16-wide vector operations; values as rows, [16][head_dim]: slot
 * s's value at row s. */
float *kern_kv_keys(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head);
float *kern_kv_values(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head);

/* Write (put) or read (get) the key and the value (head_dim floats each) of slot slot of block
 * block, for layer layer and KV head head. */
void kern_kv_put(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head,
                 int64_t slot, const float *key, const float *value);
void kern_kv_get(struct kern_kv_pool *pool, int32_t block, int64_t layer, int64_t head,
                 int64_t slot, float *key, float *value);

/* A request's block table: blocks[i] holds its tokens [16 i, 16 i + 16). The table owns its array,
 * not the blocks: it neither takes nor releases them, the caller does. A zero-filled table
 * (struct kern_kv_table){0} is a valid empty one. */
struct kern_kv_table {
    int32_t *blocks;
    int64_t n, cap;
};

/* Append block (amortised O(1)). */
void kern_kv_table_append(struct kern_kv_table *t, int32_t block);
/* Keep the first n blocks (0 <= n <= t->n); the caller releases the others first if it wants them
 * back (kern_kv_table_release_blocks does both for the whole table). */
void kern_kv_table_truncate(struct kern_kv_table *t, int64_t n);
/* Release every block of t into pool's free list and empty t (a preemption by recompute). */
void kern_kv_table_release_blocks(struct kern_kv_table *t, struct kern_kv_pool *pool);
/* Free t's array; t is then empty. */
void kern_kv_table_free(struct kern_kv_table *t);

#endif
