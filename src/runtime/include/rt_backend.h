/* Executors of the bundled runtime: what runs one pipeline stage of a model on one device.
 *
 * A stage is layers [layer_begin, layer_end) of a zoo model, as shard `rank` of `op`
 * tensor-parallel devices, with weights random from a seed: the same seed, model and layer give the
 * same weights whatever the split, so a stage split over op devices computes what one device would.
 * The first stage embeds token ids derived from a token seed; the last applies the final layer
 * norm.
 *
 * Activations are backend-owned buffers of one request (seq x hidden), made by act_new on a
 * stage's device; forward reads its input from the previous stage's buffer (wherever that lives:
 * the backend copies across devices) and writes its own. The op ranks of a stage call forward
 * together on the same buffers, rank 0's output being the one kept. */
#ifndef RT_BACKEND_H
#define RT_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

struct prof_arch;
struct rt_team;

struct rt_stage_spec {
    const struct prof_arch *arch; /* borrowed; outlives the stage */
    int32_t layer_begin, layer_end;
    bool first, last;
    unsigned op, rank;
    struct rt_team *team; /* the stage's op ranks, shared (NULL or size 1 when op is 1) */
    uint32_t device;      /* logical device */
    int gpu;              /* the GPU the device runs on (cuda), else -1 */
    uint64_t seed;        /* weight seed of the model */
};

/* A stage on one device; backends embed it first in their own struct. */
struct rt_stage {
    const struct rt_backend *backend;
};

struct rt_backend {
    const char *name;
    /* Build a stage: weights made and filled, scratch allocated. */
    int (*stage_new)(const struct rt_stage_spec *spec, struct rt_stage **out);
    void (*stage_free)(struct rt_stage *s);
    /* A buffer for one request's activations on s's device, with room for s's model; it may
     * carry any model's activations that fit. */
    int (*act_new)(struct rt_stage *s, void **out);
    void (*act_free)(void *act);
    /* The sum of the elements of s's output held in act (one of s's buffers), as doubles: for
     * tests and checks. */
    int (*act_checksum)(struct rt_stage *s, const void *act, double *out);
    /* Run s on one request. in is the previous stage's buffer (NULL for the first stage), out one
     * of s's. With op > 1 the ranks meet inside (all-reduces): a backend must not fail one rank
     * halfway (the cpu one cannot fail; the cuda one runs op 1 only). */
    int (*forward)(struct rt_stage *s, uint64_t token_seed, const void *in, void *out);
};

extern const struct rt_backend rt_backend_cpu;
extern const struct rt_backend rt_backend_cuda;

/* The backend called name ("cpu", "cuda"), or NULL. */
const struct rt_backend *rt_backend_find(const char *name);

#endif
