/* Profiler backends: each times the operations of prof_ops.h on one device.
 *
 *   roofline  computes times from a hardware spec (prof_hw.h): no hardware needed;
 *   cpu       runs them on this CPU: FP32 GEMMs through CBLAS (OpenBLAS, one thread), softmax,
 *             layer norm, GELU and add loops; warmup, then timed repetitions; and times whole
 *             layers as the CPU runtime runs them, which is what its profiles use (decoders too:
 *             whole layers and ends, and attention fitted over context lengths);
 *   cuda      runs them on a GPU (cuda/include/cu_prof.h): cuBLASLt fp16 GEMMs and our own kernels,
 * timed with CUDA events; warmup, then at least 20 timed iterations. A backend is chosen by name
 * through prof_backend_open(); one file implements each. */
#ifndef PROF_BACKEND_H
#define PROF_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct prof_arch;
struct prof_attention_cost;
struct prof_decoder_pass;
struct prof_hw;
struct prof_op;

/* The measured (or computed) time of one op: median and spread of the timed repetitions. A
 * computed time has p10 = median = p90 and reps = 0. */
struct prof_timing {
    double median_s, p10_s, p90_s;
    int reps;
};

struct prof_backend {
    const char *name;
    long elem_bytes; /* element size the backend computes in: 2 (fp16) or 4 (FP32) */
    /* Time n ops into out[n]. Errors are negative mx_err codes with the message recorded. */
    int (*time_ops)(struct prof_backend *self, const struct prof_op *ops, size_t n,
                    struct prof_timing *out);
    /* Optional (NULL: a layer costs the sum of its ops): time one whole layer of a at (batch, op)
     * as the runtime runs it, rank 0's shard without its all-reduces. MX_EUSAGE: not for this
     * model; the sum of the ops stands. */
    int (*time_layer)(struct prof_backend *self, const struct prof_arch *a, int64_t batch, int op,
                      struct prof_timing *out);
    /* Optional (NULL: this backend does not profile decoders yet): time n decoder ops
     * (prof_decoder.h) into out[n], as time_ops. */
    int (*time_decoder_ops)(struct prof_backend *self, const struct prof_op *ops, size_t n,
                            struct prof_timing *out);
    /* Optional (decoders; when present it replaces time_decoder_ops, and decoder_attention must be
     * there too): time decoder a on one of op devices as the runtime runs it, for an iteration of
     * tokens tokens (prof_decoder.h, struct prof_decoder_pass). The layer's time includes the
     * attention of its prefill chunk, which the builder takes out with the fitted coefficients.
     * MX_EINPUT for a model the backend cannot hold. */
    int (*time_decoder_pass)(struct prof_backend *self, const struct prof_arch *a, int op,
                             int64_t tokens, struct prof_decoder_pass *out);
    /* Optional (NULL: the roofline's formulas from the hardware spec): the attention cost of one
     * layer of decoder a on one of op devices, measured and fitted; the measurements are
     * appended to raw (a JSON array) when it is not NULL. */
    int (*decoder_attention)(struct prof_backend *self, const struct prof_arch *a, int op,
                             struct prof_attention_cost *out, json_t *raw);
    /* Optional (NULL: the hardware spec's formula): the time of an all-reduce of bytes over n
     * devices, measured; MX_EUSAGE when the machine has fewer than n devices (the formula then
     * stands). */
    int (*allreduce_s)(struct prof_backend *self, double bytes, int n, double *seconds);
    void (*free)(struct prof_backend *self);
};

/* Open backend name ("roofline", "cpu" or "cuda") for hardware hw (borrowed; it must outlive the
 * backend; roofline needs it, the others record it). MX_EUSAGE for an unknown name, a backend this
 * build lacks, or no device to run on. */
int prof_backend_open(const char *name, const struct prof_hw *hw, struct prof_backend **out);

/* The per-backend constructors behind prof_backend_open(). */
int prof_backend_roofline(const struct prof_hw *hw, struct prof_backend **out);
int prof_backend_cpu(const struct prof_hw *hw, struct prof_backend **out);
int prof_backend_cuda(const struct prof_hw *hw, struct prof_backend **out);

#endif
