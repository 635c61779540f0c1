/* The CUDA executor of the bundled runtime, behind a plain C API: one pipeline stage of a
 * transformer on one GPU, with real fp16 computation (cuBLASLt GEMMs, fp32 accumulation; our own
 * kernels for softmax, layer norm, GELU and add), weights random from a seed.
 *
 * A logical device of a plan maps to a GPU (the runtime picks which, several logical devices may
 * share one: an emulation, each logical device then has its own stream). A stage owns its weights,
 * its scratch, its stream and its cuBLASLt handle. Activations are device buffers of
 * seq * hidden fp16 elements per request (cu_rt_act_new); a stage reads its input buffer and
 * writes its output buffer, both on its own GPU; cu_rt_act_copy moves one between GPUs by peer
 * copy (or a device-to-device copy on one GPU).
 *
 * Tensor parallelism is not covered here: a stage is the whole of its layers on one GPU (op = 1).
 *
 * Built with nvcc when the `cuda` feature is on; without it cu_rt_stub.c stands in and every call
 * fails with MX_EUSAGE "built without CUDA". Every function returns MX_OK or a negative mx_err
 * code with the message recorded (mx_error), never exits. Stage and buffer calls may come from any
 * host thread, but one stage is used by one thread at a time. */
#ifndef CU_RT_H
#define CU_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shapes of a stage: n_layers transformer layers (pre-layer-norm; attention with heads heads,
 * causal when causal is set; MLP of width ffn with GELU), on requests of seq tokens of width
 * hidden. The first stage also embeds token ids (a vocab x hidden table plus seq x hidden
 * positions); the last applies a final layer norm. hidden must be a multiple of heads; vocab is
 * read only by the first stage. Per layer, on the residual stream x (seq x hidden):
 *   x += softmax(Q_i K_i^T / sqrt(hidden / heads), causally masked if causal) V_i, heads
 *        concatenated, times Wo, with [Q K V] = LN1(x) Wqkv
 *   x += GELU(LN2(x) W1) W2 */
struct cu_rt_shape {
    int64_t hidden, heads, ffn, seq, vocab;
    bool causal;
    int32_t n_layers; /* >= 1 */
    /* The model's number of the stage's first layer (>= 0): weights are drawn by the model's
     * layer numbers, so the stages of a split model compute what the whole model does. */
    int32_t first_layer;
    bool first, last;
};

struct cu_rt_stage;
struct cu_rt_act;

/* GPUs visible to this process (0 when none, or built without CUDA). Never fails. */
int cu_rt_device_count(void);

/* A stage on GPU gpu with weights drawn from seed (the same seed, shape and layer numbers give the
 * same weights): matrices uniform in +-1 / sqrt(fan_in), layer-norm gammas 1 +- 0.1 and betas
 * 0 +- 0.1, embeddings uniform in +-0.5. Allocates the weights, the scratch of one request (heads x
 * seq x seq scores among it) and 32 MiB of cuBLASLt workspace on the GPU. Fails with MX_EINPUT for
 * a bad shape, MX_EUSAGE for a GPU that is not there, MX_EIO when CUDA fails (out of memory, say).
 * Free with cu_rt_stage_free() (NULL is fine). */
int cu_rt_stage_new(int gpu, const struct cu_rt_shape *shape, uint64_t seed,
                    struct cu_rt_stage **out);
void cu_rt_stage_free(struct cu_rt_stage *s);

/* Run the stage once on one request and wait for it. The first stage ignores in (which may be
 * NULL) and embeds tokens derived from token_seed (token i is a hash of token_seed and i, modulo
 * vocab); other stages read in. Writes out, which holds the residual stream while the layers run;
 * in may be out. Both buffers are on the stage's GPU with the stage's seq x hidden (MX_EUSAGE
 * otherwise). *gpu_s gets the time the GPU spent in seconds (CUDA events around the stage's work,
 * input copy or embedding included). */
int cu_rt_stage_forward(struct cu_rt_stage *s, uint64_t token_seed, const struct cu_rt_act *in,
                        struct cu_rt_act *out, double *gpu_s);

/* An activation buffer with room for one request of seq x hidden fp16 (zeroed) on GPU gpu; it
 * may hold any smaller request: it takes the shape of what a stage writes into it or what is
 * copied into it (groups host models of several shapes). Free with cu_rt_act_free() (NULL is
 * fine). */
int cu_rt_act_new(int gpu, int64_t seq, int64_t hidden, struct cu_rt_act **out);
void cu_rt_act_free(struct cu_rt_act *a);

/* Copy src into dst (which must have room for src's shape), across GPUs by peer copy where peer
 * access is possible (enabled on first use), else through the host; synchronous: it returns once
 * dst holds the data. The copy runs on the calling thread's default stream, so it does not wait for
 * stages working on either GPU (their forwards have finished by the time their buffers are copied).
 */
int cu_rt_act_copy(struct cu_rt_act *dst, const struct cu_rt_act *src);

/* A checksum of a buffer's contents (sum of its elements as doubles), for tests: finite when the
 * stage computed finite values. */
int cu_rt_act_checksum(const struct cu_rt_act *a, double *out);

#endif
