/* Every dispatch policy's inline choice, for the loops that are compiled once per policy (the fast
 * path, the evaluator's recording run) so that each copy carries its policy's choice and flags as
 * constants. SIM_DISPATCH_INLINE(X) expands X(name, NAME) for each: sim__choose_<name> and the
 * constants SIM_<NAME>_NEEDS_OUTSTANDING and SIM_<NAME>_MAY_REFUSE come from the policy's header,
 * sim_dispatch_<name> is its table entry. A policy missing here still runs, through its choose()
 * pointer. Internal to src/sim. */
#ifndef SIM_DISPATCH_INLINE_H
#define SIM_DISPATCH_INLINE_H

#include "sim_dispatch_best_finish.h"
#include "sim_dispatch_earliest_free.h"
#include "sim_dispatch_least_outstanding.h"

#define SIM_DISPATCH_INLINE(X)                                                                     \
    X(least_outstanding, LEAST_OUTSTANDING)                                                        \
    X(earliest_free, EARLIEST_FREE)                                                                \
    X(best_finish, BEST_FINISH)

#endif
