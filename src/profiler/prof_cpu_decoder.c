/* The cpu backend's decoders (prof_backend.h: time_decoder_pass and decoder_attention): decoder
 * layers timed as the CPU runtime runs them (kern_decoder.h: FP32, single-threaded OpenBLAS, rank
 * 0's shard of op devices, the runtime's random weights; the all-reduces are left to the cost
 * model), and the attention coefficients fitted to layers timed over context lengths. A layer's
 * time is that of a pass through all the model's layers (distinct weights, as a stage holds them)
 * over the number of layers: a layer timed alone, again and again, keeps its weights in the
 * caches, which a stage of several layers, or a core shared by several models, does not (a
 * decode of tiny-llama-4l-512 ran 3 to 4 times its single-layer profile in the runtime). The
 * LM head is timed after the layers' weights have been read (untimed), for the same reason. Each
 * attention point is the least of FIT_ROUNDS medians, measured in rounds over the points:
 * interference from other work on the machine only adds time, and a burst of it then spoils one
 * round of a point, not its value. The attention:
 *
 *   decode_token_s  FIT_DECODES decodes of one token each at five contexts C up to the model's
 *                   context (at most FIT_MAX_CONTEXT): the least-squares slope of the layer's time
 *                   in D = FIT_DECODES x C;
 *   prefill_pair_s  one chunk of FIT_CHUNK tokens after k cached tokens, five values of k: the
 *                   slope in P = t k + t (t + 1) / 2 (the dense work stays the same, only the
 *                   pairs grow);
 *   fixed_s         0: a CPU launches no kernels, and what an iteration costs whatever its tokens
 *                   is in the dense table, measured whole.
 *
 * Slopes below zero (noise on a machine where nothing grows) are taken as zero. Cached keys and
 * values are a fixed pattern of unit scale, as the runtime's are; the timing rule is the backend's
 * (prof_cpu.c). The weights of one (model, op) are built once and kept for the next call. */
#include "kern_decoder.h"
#include "kern_kv.h"
#include "kern_weights.h"
#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"
#include "mx_time.h"
#include "prof_arch.h"
#include "prof_backend.h"
#include "prof_decoder.h"
#include "prof_int.h"

#include <stdlib.h>
#include <string.h>

/* The FP32 weights one device (one core) may hold: a decoder over this at some op is refused. */
#define CPU_DECODER_MAX_BYTES (1024.0 * 1024 * 1024)
#define FIT_DECODES 8
#define FIT_CHUNK 128
#define FIT_MAX_CONTEXT 2048
#define FIT_POINTS 5
#define FIT_ROUNDS 3

/* The weights of one (model, op) on rank 0, kept between calls: every layer, so that a pass
 * streams the weights a stage streams. */
struct dec_state {
    char *name;
    int op;
    struct kern_dec_shape shape;
    int64_t n_layers;
    struct kern_dec_layer *layers; /* [n_layers] */
    struct kern_dec_ends ends;
    struct kern_dec_scratch *scratch;
};

void prof__cpu_decoder_release(void *state)
{
    struct dec_state *st = state;
    if (!st)
        return;
    for (int64_t l = 0; l < st->n_layers; l++)
        kern_dec_layer_release(&st->layers[l]);
    free(st->layers);
    kern_dec_ends_release(&st->ends);
    kern_dec_scratch_free(st->scratch);
    free(st->name);
    free(st);
}

/* The all-reduces are the cost model's: rank 0 alone runs with one that does nothing. */
static void no_sum(void *ctx, float *buf, float *scratch, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)scratch;
    (void)n;
}

static const struct kern_allreduce no_reduce = {no_sum, NULL};

/* The FP32 weights one of op devices holds of the whole model (one stage). */
static double device_bytes(const struct prof_arch *a, int op)
{
    struct prof_arch fp32 = *a;
    fp32.dtype_bytes = 4;
    return (double)a->layers * (double)prof_arch_layer_weight_bytes(&fp32, op) +
           (double)prof_arch_embedding_weight_bytes(&fp32, op) +
           (double)prof_arch_lm_head_weight_bytes(&fp32, op);
}

/* The state for (a, op): kept, or built anew. */
static int state_for(struct prof_backend *cpu, const struct prof_arch *a, int op,
                     struct dec_state **out)
{
    void **slot = prof__cpu_decoder_state(cpu);
    struct dec_state *st = *slot;
    if (st && st->op == op && strcmp(st->name, a->name) == 0) {
        *out = st;
        return MX_OK;
    }
    if (a->kind != PROF_ARCH_DECODER || a->experts > 0)
        return mx_error(MX_EINPUT,
                        "%s: the cpu backend profiles dense decoders (kind \"decoder\" without "
                        "experts)",
                        a->path);
    double bytes = device_bytes(a, op);
    if (bytes > CPU_DECODER_MAX_BYTES)
        return mx_error(MX_EINPUT,
                        "%s: the cpu backend profiles decoders whose FP32 weights fit in 1 GiB per "
                        "device (a device is one core of this machine); at op %d each device "
                        "holds %.1f GiB",
                        a->path, op, bytes / CPU_DECODER_MAX_BYTES);
    struct kern_dec_shape shape = {a->hidden, a->heads, a->kv_heads, a->ffn, a->vocab, op, 0};
    if (kern_dec_shape_check(&shape) < 0)
        return mx_error(MX_EINPUT, "%s: the cpu backend cannot run it at op %d: %s", a->path, op,
                        mx_error_message());
    prof__cpu_decoder_release(st);
    st = MX_NEW(struct dec_state);
    st->name = mx_strdup(a->name);
    st->op = op;
    st->shape = shape;
    st->n_layers = a->layers;
    st->layers = MX_NEW_ARRAY(struct kern_dec_layer, (size_t)a->layers);
    for (int64_t l = 0; l < a->layers; l++)
        kern_dec_layer_init(&st->layers[l], &shape, 1, l);
    kern_dec_ends_init(&st->ends, &shape, 1, true, true);
    st->scratch = kern_dec_scratch_new(&shape);
    *slot = st;
    *out = st;
    return MX_OK;
}

/* A batch of n_seqs entries of tokens new tokens after cached ones each, over a cache of every
 * layer filled with a pattern, and an input of unit scale. */
struct batch {
    struct dec_state *st;
    struct kern_kv_pool *pool;
    struct kern_kv_table *tables;
    struct kern_dec_seq *seqs;
    int64_t n_seqs, rows;
    float *input, *x;
    int64_t *ids, *last, *next;
    int64_t n_last;
};

static void fill_pool(struct kern_kv_pool *pool)
{
    int64_t heads = kern_kv_pool_kv_heads(pool), d = kern_kv_pool_head_dim(pool);
    for (int32_t b = 0; b < kern_kv_pool_blocks(pool); b++)
        for (int64_t cell = 0; cell < kern_kv_pool_layers(pool) * heads; cell++) {
            int64_t l = cell / heads, h = cell % heads;
            float *k = kern_kv_keys(pool, b, l, h), *v = kern_kv_values(pool, b, l, h);
            for (int64_t i = 0; i < KERN_KV_BLOCK_TOKENS * d; i++) {
                k[i] = (float)((i * 37 + b + h) % 101 - 50) / 50.0f;
                v[i] = (float)((i * 53 + b + 2 * h) % 97 - 48) / 48.0f;
            }
        }
}

static void batch_init(struct batch *b, struct dec_state *st, int64_t n_seqs, int64_t cached,
                       int64_t tokens, int64_t lm_rows)
{
    const struct kern_dec_shape *s = &st->shape;
    int64_t per_seq = kern_kv_blocks_for(cached + tokens), h = s->hidden;
    *b = (struct batch){.st = st, .n_seqs = n_seqs, .rows = n_seqs * tokens, .n_last = lm_rows};
    b->pool = kern_kv_pool_new(st->n_layers, kern_dec_rank_kv_heads(s), kern_dec_head_dim(s),
                               (int32_t)(n_seqs * per_seq));
    fill_pool(b->pool);
    b->tables = MX_NEW_ARRAY(struct kern_kv_table, (size_t)n_seqs);
    b->seqs = MX_NEW_ARRAY(struct kern_dec_seq, (size_t)n_seqs);
    for (int64_t e = 0; e < n_seqs; e++) {
        for (int64_t k = 0; k < per_seq; k++)
            kern_kv_table_append(&b->tables[e], kern_kv_alloc(b->pool));
        b->seqs[e] = (struct kern_dec_seq){&b->tables[e], cached, tokens};
    }
    b->input =
        kern_weight_rows(kern_dec_weight_seed(1, -1, KERN_DEC_EMBEDDING), 0, b->rows, h, 1.0f);
    b->x = mx_malloc_array((size_t)(b->rows * h), sizeof(float));
    memcpy(b->x, b->input, (size_t)(b->rows * h) * sizeof(float));
    b->ids = mx_malloc_array((size_t)b->rows, sizeof(int64_t));
    for (int64_t i = 0; i < b->rows; i++)
        b->ids[i] = (i * 7919) % s->vocab;
    b->last = mx_malloc_array((size_t)(lm_rows ? lm_rows : 1), sizeof(int64_t));
    b->next = mx_malloc_array((size_t)(lm_rows ? lm_rows : 1), sizeof(int64_t));
    for (int64_t i = 0; i < lm_rows; i++)
        b->last[i] = i;
    kern_dec_scratch_reserve(st->scratch, b->rows, cached + tokens, lm_rows);
}

static void batch_release(struct batch *b)
{
    for (int64_t e = 0; e < b->n_seqs; e++)
        kern_kv_table_free(&b->tables[e]);
    kern_kv_pool_free(b->pool);
    free(b->tables);
    free(b->seqs);
    free(b->input);
    free(b->x);
    free(b->ids);
    free(b->last);
    free(b->next);
}

/* Every layer in turn, as a stage runs its layers; the time of one (the mean). */
static double layers_pass(struct batch *b)
{
    const struct dec_state *st = b->st;
    memcpy(b->x, b->input, (size_t)(b->rows * st->shape.hidden) * sizeof(float));
    double t0 = mx_wall_s();
    kern_dec_layers_forward(&st->shape, st->layers, st->n_layers, b->pool, b->seqs, b->n_seqs, b->x,
                            st->scratch, &no_reduce);
    return (mx_wall_s() - t0) / (double)st->n_layers;
}

static double run_layer(void *ctx)
{
    return layers_pass(ctx);
}

static double run_first(void *ctx)
{
    struct batch *b = ctx;
    const struct dec_state *st = b->st;
    double t0 = mx_wall_s();
    kern_dec_embed(&st->shape, &st->ends, b->ids, b->rows, b->x, st->scratch, &no_reduce);
    return mx_wall_s() - t0;
}

/* Read every layer's weights (a float per cache line), as a stage's layers stream them before its
 * LM head runs. */
static float evict(const struct dec_state *st)
{
    const struct kern_dec_shape *s = &st->shape;
    int64_t h = s->hidden, d = kern_dec_head_dim(s), fl = s->ffn / s->op;
    int64_t q = kern_dec_rank_heads(s) * d, kv = kern_dec_rank_kv_heads(s) * d;
    float sum = 0;
    for (int64_t l = 0; l < st->n_layers; l++) {
        const struct kern_dec_layer *w = &st->layers[l];
        const float *arrays[] = {w->wqkv, w->wo, w->w_gate_up, w->w_down};
        const int64_t sizes[] = {h * (q + 2 * kv), q * h, h * 2 * fl, fl * h};
        for (int a = 0; a < 4; a++)
            for (int64_t i = 0; i < sizes[a]; i += 16)
                sum += arrays[a][i];
    }
    return sum;
}

/* The LM head once the layers' weights have gone through the caches, as in a stage. */
static double run_last(void *ctx)
{
    struct batch *b = ctx;
    const struct dec_state *st = b->st;
    b->next[0] = (int64_t)evict(st) & 1;
    double t0 = mx_wall_s();
    kern_dec_next_tokens(&st->shape, &st->ends, b->x, b->last, b->n_last, b->next, st->scratch,
                         &no_reduce);
    return mx_wall_s() - t0;
}

static float sample_x(void *ctx, size_t i)
{
    const struct batch *b = ctx;
    return b->x[i % (size_t)(b->rows * b->st->shape.hidden)];
}

static float sample_next(void *ctx, size_t i)
{
    const struct batch *b = ctx;
    return (float)b->next[i % (size_t)b->n_last];
}

static void time_batch(struct prof_backend *cpu, struct batch *b, double (*run)(void *),
                       float (*sample)(void *, size_t), struct prof_timing *t)
{
    prof__cpu_time(cpu, &(struct prof__cpu_subject){run, sample, b}, t);
}

int prof__cpu_time_decoder_pass(struct prof_backend *cpu, const struct prof_arch *a, int op,
                                int64_t tokens, struct prof_decoder_pass *out)
{
    struct dec_state *st;
    int rc = state_for(cpu, a, op, &st);
    if (rc < 0)
        return rc;
    int64_t lm_rows = tokens < PROF_DECODER_LM_TOKENS ? tokens : PROF_DECODER_LM_TOKENS;
    struct batch b;
    batch_init(&b, st, 1, 0, tokens, lm_rows);
    time_batch(cpu, &b, run_layer, sample_x, &out->layer);
    time_batch(cpu, &b, run_first, sample_x, &out->first);
    time_batch(cpu, &b, run_last, sample_next, &out->last);
    batch_release(&b);
    return MX_OK;
}

/* The least-squares line y = intercept + slope x through n points. */
static void fit_line(const double *x, const double *y, int n, double *slope, double *intercept)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i] / n;
        my += y[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    *slope = sxx > 0 ? sxy / sxx : 0;
    *intercept = my - *slope * mx;
}

static json_t *point_json(const char *kind, int64_t seqs, int64_t cached, int64_t tokens,
                          double work, const struct prof_timing *t)
{
    json_t *o = json_object();
    mx_json_set(o, "kind", json_string(kind));
    mx_json_set(o, "sequences", json_integer(seqs));
    mx_json_set(o, "cached", json_integer(cached));
    mx_json_set(o, "tokens", json_integer(tokens));
    mx_json_set(o, strcmp(kind, "decode") == 0 ? "context" : "pairs", json_real(work));
    double v[3] = {t->median_s, t->p10_s, t->p90_s};
    mx_json_set(o, "layer_s", mx_json_f64_array(v, 3));
    return o;
}

/* Attention point k of the fit: decodes (k < FIT_POINTS) at growing contexts, else one chunk
 * after growing cached lengths; its timing, and its work (D or P) in *work. */
static void attention_point(struct prof_backend *cpu, struct dec_state *st, int64_t most,
                            int64_t chunk, int k, double *work, struct prof_timing *t, json_t *raw)
{
    struct batch b;
    if (k < FIT_POINTS) {
        /* Decodes at contexts most (k + 1) / FIT_POINTS: cached C - 1, one token. */
        int64_t context = most * (k + 1) / FIT_POINTS;
        batch_init(&b, st, FIT_DECODES, context - 1, 1, 0);
        *work = (double)(FIT_DECODES * context);
        time_batch(cpu, &b, run_layer, sample_x, t);
        if (raw)
            mx_json_append(raw, point_json("decode", FIT_DECODES, context - 1, 1, *work, t));
    } else {
        /* One chunk after (most - chunk) j / (FIT_POINTS - 1) cached tokens. */
        int64_t cached = (most - chunk) * (k - FIT_POINTS) / (FIT_POINTS - 1);
        batch_init(&b, st, 1, cached, chunk, 0);
        *work = (double)(chunk * cached + chunk * (chunk + 1) / 2);
        time_batch(cpu, &b, run_layer, sample_x, t);
        if (raw)
            mx_json_append(raw, point_json("prefill", 1, cached, chunk, *work, t));
    }
    batch_release(&b);
}

int prof__cpu_decoder_attention(struct prof_backend *cpu, const struct prof_arch *a, int op,
                                struct prof_attention_cost *out, json_t *raw)
{
    struct dec_state *st;
    int rc = state_for(cpu, a, op, &st);
    if (rc < 0)
        return rc;
    int64_t most = a->context_tokens < FIT_MAX_CONTEXT ? a->context_tokens : FIT_MAX_CONTEXT;
    int64_t chunk = most / 4 < FIT_CHUNK ? most / 4 : FIT_CHUNK;
    if (chunk < 1 || most < 2 * FIT_POINTS)
        return mx_error(MX_EINPUT, "%s: context_tokens %lld is too short to fit its attention",
                        a->path, (long long)a->context_tokens);
    double work[2 * FIT_POINTS], time_s[2 * FIT_POINTS], decode_c, prefill_c;
    for (int round = 0; round < FIT_ROUNDS; round++)
        for (int k = 0; k < 2 * FIT_POINTS; k++) {
            struct prof_timing t;
            attention_point(cpu, st, most, chunk, k, &work[k], &t, raw);
            if (round == 0 || t.median_s < time_s[k])
                time_s[k] = t.median_s;
        }
    fit_line(work, time_s, FIT_POINTS, &out->decode_token_s, &decode_c);
    fit_line(work + FIT_POINTS, time_s + FIT_POINTS, FIT_POINTS, &out->prefill_pair_s, &prefill_c);
    out->decode_token_s = out->decode_token_s > 0 ? out->decode_token_s : 0;
    out->prefill_pair_s = out->prefill_pair_s > 0 ? out->prefill_pair_s : 0;
    out->fixed_s = 0;
    if (raw) {
        json_t *fit = json_object();
        mx_json_set(fit, "kind", json_string("fit"));
        mx_json_set(fit, "decode_token_s", json_real(out->decode_token_s));
        mx_json_set(fit, "decode_intercept_s", json_real(decode_c));
        mx_json_set(fit, "prefill_pair_s", json_real(out->prefill_pair_s));
        mx_json_set(fit, "prefill_intercept_s", json_real(prefill_c));
        mx_json_append(raw, fit);
    }
    return MX_OK;
}
