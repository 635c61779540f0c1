/* The cpu backend: placeholder until its implementation lands. */
#include "prof_backend.h"

#include "mx_error.h"

int prof_backend_cpu(const struct prof_hw *hw, struct prof_backend **out)
{
    (void)hw;
    (void)out;
    return mx_error(MX_EUSAGE, "the cpu backend is not built yet");
}
