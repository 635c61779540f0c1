/* Monotonic wall clock for benchmarks and progress lines (never used for simulated time). */
#include "mx_time.h"

#include <time.h>

double mx_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
