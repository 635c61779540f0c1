/* What the profiler's files share and nothing outside src/profiler uses. */
#ifndef PROF_INT_H
#define PROF_INT_H

#include <stdbool.h>

struct prof_arch;
struct prof_hw;

/* Whether tensor-parallel degree op fits a on hw (prof_arch_op_unfit, and at most a node's
 * devices) into *fits; when the user listed op (given), a misfit is MX_EINPUT saying why (a
 * decoder's message names its file). */
int prof_build__op_fits(const struct prof_arch *a, const struct prof_hw *hw, int op, int given,
                        bool *fits);

#endif
