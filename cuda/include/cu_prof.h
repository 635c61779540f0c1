/* The CUDA profiler, behind a plain C API (the only header of cuda/ that C code includes).
 *
 * Built with nvcc when the `cuda` feature is on; a build without it compiles cu_prof_stub.c, whose
 * functions all fail with MX_EUSAGE "built without CUDA". Every function returns MX_OK or a
 * negative mx_err code with the message recorded (mx_error), never exits. */
#ifndef CU_PROF_H
#define CU_PROF_H

#include <stddef.h>
#include <stdint.h>

/* An operation to time, in cuda/'s own terms (the profiler describes its ops with these). */
enum cu_op_kind {
    CU_OP_GEMM,      /* C[m][n] = A[m][k] B[k][n], count independent times (strided batches) */
    CU_OP_SOFTMAX,   /* count times a softmax over each of m rows of n columns */
    CU_OP_LAYERNORM, /* count times a layer norm over each of m rows of n columns */
    CU_OP_GELU,      /* count times GELU over m x n elements */
    CU_OP_ADD,       /* count times an elementwise add of two m x n arrays */
};

struct cu_op {
    enum cu_op_kind kind;
    const char *name; /* for messages; may be NULL */
    int64_t m, n, k;  /* k: GEMMs only */
    int64_t count;    /* independent repetitions */
};

/* A timed op: quantiles of its timed iterations, seconds. */
struct cu_timing {
    double median_s, p10_s, p90_s;
    int reps;
};

/* GPUs visible to this process (0 when none, or built without CUDA). Never fails. */
int cu_prof_device_count(void);

/* The name of GPU device ("NVIDIA H100 80GB HBM3") into buf. */
int cu_prof_device_name(int device, char *buf, size_t len);

/* Time n ops on GPU device in fp16 (cuBLASLt GEMMs with the exact shapes; our own
 * kernels for softmax, layer norm, GELU and add): warmup iterations, then at least 20 timed ones,
 * each timed with CUDA events; out[i] gets the median and spread. */
int cu_prof_time_ops(int device, const struct cu_op *ops, size_t n, struct cu_timing *out);

/* Device-to-device copy bandwidth on device for buffers of bytes, bytes/s. */
int cu_prof_copy_bandwidth(int device, size_t bytes, double *bytes_per_s);

/* NCCL all-reduce bus bandwidth over the first n_devices GPUs (n_devices >= 2) for bytes of
 * fp16, bytes/s (nccl-tests' "busbw": algorithm bandwidth times 2 (n - 1) / n). */
int cu_prof_allreduce_bandwidth(int n_devices, size_t bytes, double *bus_bytes_per_s);

#endif
