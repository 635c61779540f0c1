/* Private to the workload module: the sides of a length distribution (wl_lengths.h), for readers
 * that build distributions from tables instead of the grammar (ServeGen's per-window length
 * distributions, where a multimodal prompt is its text plus a drawn number of images, each of a
 * drawn size). */
#ifndef WL_LENGTHS_INT_H
#define WL_LENGTHS_INT_H

#include "wl_lengths.h"

#include <stddef.h>
#include <stdint.h>

/* One side (input or output) of an independent distribution. Opaque. */
struct wl__side;

/* A side giving values[k] with probability proportional to weights[k], k < n (both copied; the
 * weights need not sum to 1; values >= 0). NULL when no weight is positive or one is negative or
 * not finite. */
struct wl__side *wl__side_table(const int32_t *values, const double *weights, size_t n);

/* Add to side a term of count draws of each (both owned by side from now on): the side's value
 * becomes its own draw plus that many draws of each, for a multimodal prompt. */
void wl__side_add_repeated(struct wl__side *side, struct wl__side *count, struct wl__side *each);

void wl__side_free(struct wl__side *side);

/* The largest value side can give (INT64_MAX when unbounded). */
int64_t wl__side_max(const struct wl__side *side);

/* input and output drawn independently (both owned by the result); where names it in messages. */
struct wl_lengths *wl__lengths_of_sides(struct wl__side *input, struct wl__side *output,
                                        const char *where);

#endif
