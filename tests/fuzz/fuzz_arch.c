/* Model architectures (data/models): prof_arch_read(). */
#include "fuzz.h"

#include "prof_arch.h"

static int read_arch(const char *path, int variant)
{
    (void)variant;
    struct prof_arch *arch;
    int rc = prof_arch_read(path, &arch);
    if (rc == 0)
        prof_arch_free(arch);
    return rc;
}

FUZZ_TARGET(arch, "arch.json", read_arch, 1)
