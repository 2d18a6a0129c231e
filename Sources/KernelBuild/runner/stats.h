/* stats.h: the runner's sample statistics and stopping rule (pure C99, no PAPI, no json-c), so a
 * test can compile stats.c with a tiny harness and check the decisions on synthetic samples.
 *
 * Stopping rule: after `min_repeats` samples and at least `min_time_s` of sampling, stop as soon
 * as the seeded bootstrap confidence interval of the median has relative width
 * (hi - lo) / median <= ci_fraction ("ci"); otherwise at `max_repeats` samples ("max_repeats"),
 * or once `max_time_s` of sampling have passed ("max_time"). The minimum count always comes
 * first: max_time never cuts below min_repeats. The minimum time only delays the CI stop: the
 * bounds max_repeats and max_time still apply (a min_time_s above max_time_s ends at max_time).
 * "Sampling time" is the elapsed_s the caller passes, the same clock for both time limits.
 */
#ifndef BLK_STATS_H
#define BLK_STATS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  STATS_CONTINUE = 0,
  STATS_STOP_CI = 1,
  STATS_STOP_MAX_REPEATS = 2,
  STATS_STOP_MAX_TIME = 3,
} stats_decision_t;

typedef struct {
  int min_repeats;          /* >= 1 */
  int max_repeats;          /* >= min_repeats */
  double max_time_s;        /* sampling time limit once min_repeats are done */
  double min_time_s;        /* no CI stop before this much sampling time (0: none) */
  double ci_fraction;       /* target (hi - lo) / median; <= 0 disables the CI stop */
  double confidence;        /* e.g. 0.95 */
  int resamples;            /* bootstrap resamples, e.g. 300 */
  unsigned long long seed;  /* bootstrap seed: the same samples and seed give the same CI */
} stats_rule_t;

/* The default rule: 10..200 samples, at most 0.3 s, no minimum time, 2 %, 95 %, 300 resamples,
 * seed 1. */
stats_rule_t stats_default_rule(void);

/* "ci", "max_repeats", "max_time" or "continue". */
const char *stats_decision_name(stats_decision_t d);

/* Median of x[0..n) (n >= 1; x is not modified). 0 for n <= 0. */
double stats_median(const double *x, int n);

/* Quantile q in [0, 1] of x[0..n) with linear interpolation between order statistics. */
double stats_quantile(const double *x, int n, double q);

/* Median absolute deviation from the median (unscaled). */
double stats_mad(const double *x, int n);

double stats_min(const double *x, int n);

/* Percentile bootstrap CI of the median: `resamples` resamples of size n drawn with a splitmix64
 * generator seeded with `seed`; lo/hi are the (1-confidence)/2 and (1+confidence)/2 quantiles
 * of the resampled medians. Deterministic for (x as a multiset, resamples, confidence, seed).
 * Returns 0 (and lo = hi = median) when n < 2 or memory runs out, else 1. */
int stats_bootstrap_median_ci(const double *x, int n, int resamples, double confidence,
                              unsigned long long seed, double *lo, double *hi);

/* Whether stats_decide computes the bootstrap CI after n samples and elapsed_s seconds of
 * sampling (once min_time_s has passed: every sample up to 64, then every n/32 samples, and at
 * max_repeats): the runner pauses its counters around that work. */
int stats_ci_due(const stats_rule_t *rule, int n, double elapsed_s);

/* The stopping decision after n samples and elapsed_s seconds of sampling. When the CI was
 * computed, *lo / *hi receive it (may be NULL). */
stats_decision_t stats_decide(const stats_rule_t *rule, const double *x, int n, double elapsed_s,
                              double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
