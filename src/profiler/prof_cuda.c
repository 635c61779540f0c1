/* The cuda backend: placeholder until its implementation lands. */
#include "prof_backend.h"

#include "mx_error.h"

int prof_backend_cuda(const struct prof_hw *hw, struct prof_backend **out)
{
    (void)hw;
    (void)out;
    return mx_error(MX_EUSAGE, "the cuda backend is not built yet");
}
