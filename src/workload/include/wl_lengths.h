/* Request lengths: how many prompt (input) and generated (output) tokens a decoder request has,
 * as generators draw them (docs/traces.md, "Request lengths").
 *
 * One grammar, read by wl_lengths_parse() alone, for a model set's "lengths", `trace gen
 * --lengths` and every other generator:
 *
 *   LENGTHS := SIDE "/" SIDE                  input / output, drawn independently
 *            | "empirical:" TRACE [":" MODEL] the (input, output) pairs of TRACE's requests (of
 *                                             MODEL alone when given), each equally likely
 *   SIDE    := N | "fixed:" N                 always N tokens
 *            | "uniform:" LO "," HI           every whole number of LO..HI equally likely
 *            | "lognormal:" MEDIAN "," SIGMA  exp(Normal(ln MEDIAN, SIGMA^2)) rounded to the
 *                                             nearest whole number
 *            | "zipf:" S "," MAX              k of 1..MAX with probability proportional to k^-S
 *
 * N, LO, HI and MAX are whole numbers from 1 to WL_LENGTHS_MAX_TOKENS; MEDIAN is a number in
 * [1, WL_LENGTHS_MAX_TOKENS], SIGMA in [0, 10], S in (0, 100]. TRACE is a muxplan trace with token
 * counts, HDF5 or CSV (its name ends in .h5, .hdf5 or .csv, which is how MODEL is told from it);
 * a relative TRACE is found from the folder given to the parser (a model set's own folder).
 *
 * Every pair is drawn from the distribution conditioned on fitting: 1 <= input, 1 <= output and
 * input + output <= the limit (WL_LENGTHS_MAX_TOKENS, or a model's context: wl_lengths_limit). A
 * pair outside is drawn again; a distribution that cannot fit is refused when the limit is set, and
 * one whose pairs fit too rarely (WL_LENGTHS_MAX_REDRAWS draws in a row outside) makes the draw
 * fail. Empirical pairs that do not fit are left out of the pool. */
#ifndef WL_LENGTHS_H
#define WL_LENGTHS_H

#include <gsl/gsl_rng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most tokens of a request, prompt plus output (SPEC_MAX_CONTEXT_TOKENS). */
#define WL_LENGTHS_MAX_TOKENS (1u << 24)
/* A draw fails after this many pairs in a row that do not fit. */
#define WL_LENGTHS_MAX_REDRAWS 1000

/* A parsed length distribution with its limit. Opaque; free with wl_lengths_free(). */
struct wl_lengths;

/* Traces read by empirical lengths, kept so that models naming one file read it once. Opaque. */
struct wl_lengths_cache;
struct wl_lengths_cache *wl_lengths_cache_new(void);
void wl_lengths_cache_free(struct wl_lengths_cache *cache);

/* Parse text. where names it in every message ("models.json: models[2].lengths", "--lengths");
 * a relative trace path is taken from base_dir (NULL: the working directory); cache may be NULL.
 * A text outside the grammar, a trace that cannot be read, has no token counts or no request of
 * MODEL is MX_EINPUT naming where. The limit starts at WL_LENGTHS_MAX_TOKENS. */
int wl_lengths_parse(const char *text, const char *where, const char *base_dir,
                     struct wl_lengths_cache *cache, struct wl_lengths **out);

/* The empirical distribution of n pairs (copied; each at least 1 token a side); where names it. */
struct wl_lengths *wl_lengths_empirical(size_t n, const int32_t *input, const int32_t *output,
                                        const char *where);

void wl_lengths_free(struct wl_lengths *l);

/* Bound input + output by max_tokens (<= WL_LENGTHS_MAX_TOKENS); what names the bound in
 * messages ("the context of base \"llama-2-7b\""). MX_EINPUT naming where when no pair can fit. */
int wl_lengths_limit(struct wl_lengths *l, uint32_t max_tokens, const char *what);

/* Draw one pair from rng (a few uniforms; the same rng state gives the same pair). False when
 * WL_LENGTHS_MAX_REDRAWS pairs in a row did not fit; the caller reports wl_lengths_where(l). */
bool wl_lengths_draw(const struct wl_lengths *l, gsl_rng *rng, int32_t *input, int32_t *output);

/* The place given to the parser, and the limit. */
const char *wl_lengths_where(const struct wl_lengths *l);
uint32_t wl_lengths_max_tokens(const struct wl_lengths *l);

#endif
