/* Stream derivation: hash the source name (FNV-1a, mx_hash_string), then mix seed, name and index
 * with splitmix64 so that neighbouring seeds and indices give unrelated streams. */
#include "mx_rng.h"

#include "mx_alloc.h"
#include "mx_strmap.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t mx_rng_derive(uint64_t seed, const char *name, uint64_t index)
{
    return splitmix64(splitmix64(splitmix64(seed) ^ mx_hash_string(name)) ^ index);
}

gsl_rng *mx_rng_new(uint64_t seed, const char *name, uint64_t index)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng)
        MX_BUG("out of memory allocating a random generator");
    /* MT19937 takes 32 bits of seed; fold the upper half in rather than dropping it. */
    uint64_t derived = mx_rng_derive(seed, name, index);
    gsl_rng_set(rng, (unsigned long)((derived ^ (derived >> 32)) & 0xffffffffULL));
    return rng;
}
