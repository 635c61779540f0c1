/* Open-addressing string map used while loading files. */
#include "mx_strmap.h"

#include "mx_alloc.h"

#include <stdlib.h>
#include <string.h>

uint64_t mx_hash_string(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

void mx_strmap_init(struct mx_strmap *map)
{
    map->cap = 16;
    map->count = 0;
    map->keys = MX_NEW_ARRAY(const char *, map->cap);
    map->values = MX_NEW_ARRAY(uint32_t, map->cap);
}

void mx_strmap_release(struct mx_strmap *map)
{
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof(*map));
}

static size_t find_slot(const struct mx_strmap *map, const char *key)
{
    size_t i = (size_t)mx_hash_string(key) & (map->cap - 1);
    while (map->keys[i] && strcmp(map->keys[i], key) != 0)
        i = (i + 1) & (map->cap - 1);
    return i;
}

static void grow(struct mx_strmap *map)
{
    struct mx_strmap bigger = {.cap = 2 * map->cap, .count = 0};
    bigger.keys = MX_NEW_ARRAY(const char *, bigger.cap);
    bigger.values = MX_NEW_ARRAY(uint32_t, bigger.cap);
    for (size_t i = 0; i < map->cap; i++)
        if (map->keys[i])
            mx_strmap_put(&bigger, map->keys[i], map->values[i]);
    mx_strmap_release(map);
    *map = bigger;
}

bool mx_strmap_put(struct mx_strmap *map, const char *key, uint32_t value)
{
    if (2 * (map->count + 1) > map->cap)
        grow(map);
    size_t i = find_slot(map, key);
    if (map->keys[i])
        return false;
    map->keys[i] = key;
    map->values[i] = value;
    map->count++;
    return true;
}

bool mx_strmap_get(const struct mx_strmap *map, const char *key, uint32_t *value)
{
    size_t i = find_slot(map, key);
    if (!map->keys[i])
        return false;
    *value = map->values[i];
    return true;
}
