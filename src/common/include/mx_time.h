/* Simulated time: int64 nanoseconds inside, double seconds in files and on the command line. */
#ifndef MX_TIME_H
#define MX_TIME_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* One unit of simulated time: nanoseconds. int64 covers +-292 years. */
typedef int64_t mx_ns;

#define MX_NS_PER_S 1000000000LL
/* The largest time in seconds that converts without overflow (about 100 years). */
#define MX_MAX_TIME_S 3.1e9
/* A time later than any event: used for "never" and for absent latencies. */
#define MX_NS_NEVER INT64_MAX

/* Whether s is a finite time in seconds that mx_s_to_ns() can represent. */
static inline bool mx_time_s_valid(double s)
{
    return isfinite(s) && fabs(s) <= MX_MAX_TIME_S;
}

/* Seconds to nanoseconds, rounded to nearest. s must satisfy mx_time_s_valid(). */
static inline mx_ns mx_s_to_ns(double s)
{
    return (mx_ns)llround(s * 1e9);
}

static inline double mx_ns_to_s(mx_ns ns)
{
    return (double)ns / 1e9;
}

/* Wall-clock seconds from a monotonic clock, for timing benchmarks and progress. */
double mx_wall_s(void);

#endif
