/* Hardware specs (data/hardware): prof_hw_read(). */
#include "fuzz.h"

#include "prof_hw.h"

static int read_hardware(const char *path, int variant)
{
    (void)variant;
    struct prof_hw *hw;
    int rc = prof_hw_read(path, &hw);
    if (rc == 0)
        prof_hw_free(hw);
    return rc;
}

FUZZ_TARGET(hardware, "hardware.json", read_hardware, 1)
