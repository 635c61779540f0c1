/* prof_backend_open(): the table of backends. */
#include "prof_backend.h"

#include "mx_error.h"

#include <string.h>

static const struct {
    const char *name;
    int (*open)(const struct prof_hw *hw, struct prof_backend **out);
} backends[] = {
    {"roofline", prof_backend_roofline},
    {"cpu", prof_backend_cpu},
    {"cuda", prof_backend_cuda},
};

int prof_backend_open(const char *name, const struct prof_hw *hw, struct prof_backend **out)
{
    for (size_t b = 0; b < sizeof(backends) / sizeof(backends[0]); b++)
        if (strcmp(name, backends[b].name) == 0)
            return backends[b].open(hw, out);
    return mx_error(MX_EUSAGE, "--backend: expected roofline, cpu or cuda, got \"%s\"", name);
}
