/* The CUDA profiler, behind a plain C API (the only header of cuda/ that C code includes).
 *
 * Built with nvcc when the `cuda` feature is on; a build without it compiles cu_prof_stub.c, whose
 * functions all fail with MX_EUSAGE "built without CUDA". Every function returns MX_OK or a
 * negative mx_err code with the message recorded (mx_error), never exits. */
#ifndef CU_PROF_H
#define CU_PROF_H

#include <stddef.h>

struct prof_op;
struct prof_timing;

/* GPUs visible to this process (0 when none, or built without CUDA). Never fails. */
int cu_prof_device_count(void);

/* The name of GPU device ("NVIDIA H100 80GB HBM3") into buf. */
int cu_prof_device_name(int device, char *buf, size_t len);

/* Time n ops of prof_ops.h on GPU device in fp16 (cuBLASLt GEMMs with the exact shapes; our own
 * kernels for softmax, layer norm, GELU and add): warmup iterations, then at least 20 timed ones,
 * each timed with CUDA events; out[i] gets the median and spread. */
int cu_prof_time_ops(int device, const struct prof_op *ops, size_t n, struct prof_timing *out);

/* Device-to-device copy bandwidth on device for buffers of bytes, bytes/s. */
int cu_prof_copy_bandwidth(int device, size_t bytes, double *bytes_per_s);

/* NCCL all-reduce bus bandwidth over the first n_devices GPUs (n_devices >= 2) for bytes of
 * fp16, bytes/s (nccl-tests' "busbw": algorithm bandwidth times 2 (n - 1) / n). */
int cu_prof_allreduce_bandwidth(int n_devices, size_t bytes, double *bus_bytes_per_s);

#endif
