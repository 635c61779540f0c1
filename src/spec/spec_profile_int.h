/* Profile DB internals shared by the in-memory DB (spec_profile.c) and its two file forms
 * (spec_profile_json.c, spec_profile_h5.c). Not part of spec_profile.h. */
#ifndef SPEC_PROFILE_INT_H
#define SPEC_PROFILE_INT_H

#include "spec_profile.h"

/* Free a decoder cost's arrays (a zeroed one has none). */
void spec__decoder_cost_release(struct spec_decoder_cost *d);

#endif
