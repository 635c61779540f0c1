/* What the profiler's files share and nothing outside src/profiler uses. */
#ifndef PROF_INT_H
#define PROF_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prof_arch;
struct prof_attention_cost;
struct prof_backend;
struct prof_decoder_pass;
struct prof_hw;
struct prof_timing;

/* Whether tensor-parallel degree op fits a on hw (prof_arch_op_unfit, and at most a node's
 * devices) into *fits; when the user listed op (given), a misfit is MX_EINPUT saying why (a
 * decoder's message names its file). */
int prof_build__op_fits(const struct prof_arch *a, const struct prof_hw *hw, int op, int given,
                        bool *fits);

/* The cpu backend (prof_cpu.c). Something to time: run() does it once and returns the seconds it
 * took (set-up it needs between runs stays outside the time), sample() returns one output
 * element, which goes to the backend's sink so that no run can be optimised away. */
struct prof__cpu_subject {
    double (*run)(void *ctx);
    float (*sample)(void *ctx, size_t i);
    void *ctx;
};

/* Warm up, then time the subject's repetitions into t (the rules at the top of prof_cpu.c). */
void prof__cpu_time(struct prof_backend *cpu, const struct prof__cpu_subject *s,
                    struct prof_timing *t);
/* Add x to the cpu backend's sink. */
void prof__cpu_sink(struct prof_backend *cpu, double x);
/* Where the cpu backend keeps its decoder state between calls (prof_cpu_decoder.c), freed with
 * prof__cpu_decoder_release when the backend is. */
void **prof__cpu_decoder_state(struct prof_backend *cpu);

/* The cpu backend's decoder hooks (prof_cpu_decoder.c; prof_backend.h says what they do). */
int prof__cpu_time_decoder_pass(struct prof_backend *cpu, const struct prof_arch *a, int op,
                                int64_t tokens, struct prof_decoder_pass *out);
int prof__cpu_decoder_attention(struct prof_backend *cpu, const struct prof_arch *a, int op,
                                struct prof_attention_cost *out, json_t *raw);
void prof__cpu_decoder_release(void *state);

#endif
