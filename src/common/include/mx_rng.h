/* Seeded random streams: one GSL generator per random source, derived from the master seed.
 *
 * A source is named ("arrivals", "overhead/client") and numbered (a model or segment index), so
 * adding a source or changing the order in which sources are drawn never shifts another source's
 * numbers. */
#ifndef MX_RNG_H
#define MX_RNG_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

/* The 64-bit seed of stream (name, index) under master seed: splitmix64 over the three. */
uint64_t mx_rng_derive(uint64_t seed, const char *name, uint64_t index);

/* A new Mersenne Twister (gsl_rng_mt19937) seeded with mx_rng_derive(seed, name, index). The caller
 * frees it with gsl_rng_free(). */
gsl_rng *mx_rng_new(uint64_t seed, const char *name, uint64_t index);

#endif
