/* The cluster file's "cpu_cores" and "controller_core" members: which core runs each device of the
 * CPU runtime, and which its controller. */
#include "rt_cores.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_json.h"

#include <stdlib.h>

static int read_cores(const struct mx_jpath *root, json_t *doc, uint32_t devices, uint32_t *cores,
                      uint32_t *n_out)
{
    json_t *list = json_object_get(doc, "cpu_cores");
    struct mx_jpath at = mx_jpath_key(root, "cpu_cores");
    size_t n;
    int rc;
    if (!list)
        return MX_OK;
    if ((rc = mx_json_expect_array(&at, list, 1, &n)) < 0)
        return rc;
    if (n != devices)
        return mx_jpath_error(&at, "lists %zu cores for %u devices: give one core per device", n,
                              devices);
    for (size_t i = 0; i < n; i++) {
        struct mx_jpath ai = mx_jpath_index(&at, i);
        int64_t core;
        if ((rc = mx_json_to_i64(&ai, json_array_get(list, i), 0, RT_MAX_CORE, &core)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (cores[j] == (uint32_t)core)
                return mx_jpath_error(&ai, "core %lld is already device %zu's", (long long)core, j);
        cores[i] = (uint32_t)core;
    }
    *n_out = (uint32_t)n;
    return MX_OK;
}

int rt_cores_read(const char *path, uint32_t devices, uint32_t **cores, uint32_t *n)
{
    struct mx_jpath root = mx_jpath_root(path);
    json_t *doc = NULL;
    *cores = NULL;
    *n = 0;
    int rc = mx_json_load(path, &doc);
    if (rc < 0)
        return rc;
    uint32_t *list = MX_NEW_ARRAY(uint32_t, devices ? devices : 1);
    rc = read_cores(&root, doc, devices, list, n);
    json_decref(doc);
    if (rc < 0 || *n == 0) {
        free(list);
        *n = 0;
        return rc;
    }
    *cores = list;
    return MX_OK;
}

int rt_controller_core_read(const char *path, int32_t *core)
{
    struct mx_jpath root = mx_jpath_root(path);
    json_t *doc = NULL;
    int64_t value = -1;
    *core = -1;
    int rc = mx_json_load(path, &doc);
    if (rc < 0)
        return rc;
    rc = mx_json_opt_i64(&root, doc, "controller_core", 0, RT_MAX_CORE, &value, NULL);
    json_decref(doc);
    if (rc == MX_OK)
        *core = (int32_t)value;
    return rc;
}
