/* A string-to-index map for loading files (model names, group ids). Open addressing with linear
 * probing; keys are borrowed and must outlive the map. Not for hot loops: those use dense indices.
 */
#ifndef MX_STRMAP_H
#define MX_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mx_strmap {
    size_t cap;        /* private: slots, a power of two */
    size_t count;      /* read-only: keys stored */
    const char **keys; /* private */
    uint32_t *values;  /* private */
};

/* 64-bit FNV-1a hash of s: the map's hash, also used to name random streams. */
uint64_t mx_hash_string(const char *s);

void mx_strmap_init(struct mx_strmap *map);
void mx_strmap_release(struct mx_strmap *map);

/* Insert key -> value. Returns false (and changes nothing) when key is already present. */
bool mx_strmap_put(struct mx_strmap *map, const char *key, uint32_t value);

/* The value of key in *value; false when absent. */
bool mx_strmap_get(const struct mx_strmap *map, const char *key, uint32_t *value);

#endif
