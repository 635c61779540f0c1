/* The roofline backend: each op's time from the hardware spec, never measured. A GEMM takes the
 * longer of its FLOPs at the achieved efficiency (prof_hw.h) and its bytes at the achieved memory
 * bandwidth; every other op is memory-bound. Decoders' ops take the decoder cost model of the
 * spec's "decoder" member instead (prof_decoder.h). */
#include "prof_backend.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "prof_decoder.h"
#include "prof_hw.h"
#include "prof_ops.h"

#include <math.h>
#include <stdlib.h>

struct roofline {
    struct prof_backend base; /* first: the backend is freed through it */
    const struct prof_hw *hw;
};

static double gemm_efficiency(const struct prof_efficiency *eff, const struct prof_op *op)
{
    if (op->attention)
        return eff->attention_max;
    double mk = (double)op->m * (double)op->k;
    double curve = eff->gemm_max / (1 + pow(eff->gemm_half_mk / mk, eff->gemm_steepness));
    return fmax(eff->gemm_min, curve);
}

static double op_time_s(const struct prof_hw *hw, const struct prof_op *op)
{
    double memory_s = op->bytes / (hw->mem_bandwidth_bytes_per_s * hw->eff.memory_efficiency);
    if (op->kind != PROF_OP_GEMM)
        return memory_s;
    double compute_s = op->flops / (hw->peak_flops * gemm_efficiency(&hw->eff, op));
    return fmax(compute_s, memory_s);
}

static int roofline_time_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                             struct prof_timing *out)
{
    const struct prof_hw *hw = ((struct roofline *)self)->hw;
    for (size_t i = 0; i < n; i++) {
        double t = op_time_s(hw, &ops[i]);
        out[i] = (struct prof_timing){.median_s = t, .p10_s = t, .p90_s = t, .reps = 0};
    }
    return MX_OK;
}

static int roofline_time_decoder_ops(struct prof_backend *self, const struct prof_op *ops, size_t n,
                                     struct prof_timing *out)
{
    const struct prof_hw *hw = ((struct roofline *)self)->hw;
    int rc = prof_hw_check_decoder(hw);
    for (size_t i = 0; rc == MX_OK && i < n; i++) {
        double t = prof_decoder_op_s(hw, &ops[i]);
        out[i] = (struct prof_timing){.median_s = t, .p10_s = t, .p90_s = t, .reps = 0};
    }
    return rc;
}

static int roofline_decoder_attention(struct prof_backend *self, const struct prof_arch *a, int op,
                                      struct prof_attention_cost *out, json_t *raw)
{
    (void)raw;
    const struct prof_hw *hw = ((struct roofline *)self)->hw;
    int rc = prof_hw_check_decoder(hw);
    if (rc == MX_OK)
        *out = prof_decoder_attention_roofline(hw, a, op);
    return rc;
}

static void roofline_free(struct prof_backend *self)
{
    free(self);
}

int prof_backend_roofline(const struct prof_hw *hw, struct prof_backend **out)
{
    if (!hw)
        return mx_error(MX_EUSAGE, "the roofline backend needs --hardware");
    struct roofline *r = MX_NEW(struct roofline);
    r->base = (struct prof_backend){.name = "roofline",
                                    .elem_bytes = 2,
                                    .time_ops = roofline_time_ops,
                                    .time_decoder_ops = roofline_time_decoder_ops,
                                    .decoder_attention = roofline_decoder_attention,
                                    .free = roofline_free};
    r->hw = hw;
    *out = &r->base;
    return MX_OK;
}
