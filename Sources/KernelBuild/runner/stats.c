/* stats.c: sample statistics and the stopping rule of the runner (see stats.h). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

stats_rule_t stats_default_rule(void) {
  stats_rule_t r;
  r.min_repeats = 10;
  r.max_repeats = 200;
  r.max_time_s = 0.3;
  r.min_time_s = 0;
  r.ci_fraction = 0.02;
  r.confidence = 0.95;
  r.resamples = 300;
  r.seed = 1;
  return r;
}

const char *stats_decision_name(stats_decision_t d) {
  switch (d) {
  case STATS_STOP_CI: return "ci";
  case STATS_STOP_MAX_REPEATS: return "max_repeats";
  case STATS_STOP_MAX_TIME: return "max_time";
  default: return "continue";
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double *sorted_copy(const double *x, int n) {
  double *s = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!s) return NULL;
  if (n > 0) memcpy(s, x, sizeof(double) * (size_t)n);
  qsort(s, (size_t)n, sizeof(double), cmp_double);
  return s;
}

static double quantile_sorted(const double *s, int n, double q) {
  if (n <= 0) return 0;
  if (q <= 0) return s[0];
  if (q >= 1) return s[n - 1];
  double pos = q * (double)(n - 1);
  int i = (int)pos;
  double f = pos - (double)i;
  return i + 1 < n ? s[i] + f * (s[i + 1] - s[i]) : s[i];
}

double stats_quantile(const double *x, int n, double q) {
  if (n <= 0) return 0;
  double *s = sorted_copy(x, n);
  if (!s) return 0;
  double v = quantile_sorted(s, n, q);
  free(s);
  return v;
}

double stats_median(const double *x, int n) { return stats_quantile(x, n, 0.5); }

double stats_min(const double *x, int n) {
  double m = n > 0 ? x[0] : 0;
  for (int i = 1; i < n; i++)
    if (x[i] < m) m = x[i];
  return m;
}

double stats_mad(const double *x, int n) {
  if (n <= 0) return 0;
  double med = stats_median(x, n);
  double *d = malloc(sizeof(double) * (size_t)n);
  if (!d) return 0;
  for (int i = 0; i < n; i++) d[i] = x[i] > med ? x[i] - med : med - x[i];
  double v = stats_median(d, n);
  free(d);
  return v;
}

/* splitmix64, the same generator the runner uses for its inputs. */
static unsigned long long next_u64(unsigned long long *s) {
  unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* A resample is n indices into the sorted samples; its median is found from the index counts
 * (O(n), no sort): order statistics of the resample are sorted samples at the cumulated counts. */
int stats_bootstrap_median_ci(const double *x, int n, int resamples, double confidence,
                              unsigned long long seed, double *lo, double *hi) {
  if (n < 2 || resamples < 1) {
    double m = stats_median(x, n);
    *lo = *hi = m;
    return 0;
  }
  double *s = sorted_copy(x, n);
  int *count = malloc(sizeof(int) * (size_t)n);
  double *med = malloc(sizeof(double) * (size_t)resamples);
  if (!s || !count || !med) {
    free(s);
    free(count);
    free(med);
    *lo = *hi = stats_median(x, n);
    return 0;
  }
  unsigned long long state = seed;
  const int k1 = (n - 1) / 2, k2 = n / 2; /* the middle order statistics (equal when n is odd) */
  for (int b = 0; b < resamples; b++) {
    memset(count, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
      /* Lemire's multiply-shift: an index in [0, n) from the top 32 bits. */
      unsigned long long r = next_u64(&state) >> 32;
      count[(r * (unsigned long long)n) >> 32]++;
    }
    int cum = 0, i = 0;
    double v1 = 0, v2 = 0;
    while (cum + count[i] <= k1) cum += count[i++];
    v1 = s[i];
    while (cum + count[i] <= k2) cum += count[i++];
    v2 = s[i];
    med[b] = 0.5 * (v1 + v2);
  }
  qsort(med, (size_t)resamples, sizeof(double), cmp_double);
  double alpha = (1 - confidence) / 2;
  *lo = quantile_sorted(med, resamples, alpha);
  *hi = quantile_sorted(med, resamples, 1 - alpha);
  free(s);
  free(count);
  free(med);
  return 1;
}

/* The CI is recomputed after every sample up to 64 samples, then every n/32 samples (so a long
 * run costs O(resamples n) per check, not per sample). */
static int ci_due(int n) { return n <= 64 || n % (n / 32) == 0; }

int stats_ci_due(const stats_rule_t *rule, int n, double elapsed_s) {
  return n >= rule->min_repeats && rule->ci_fraction > 0 && n >= 2 && elapsed_s >= rule->min_time_s &&
         (ci_due(n) || n >= rule->max_repeats);
}

stats_decision_t stats_decide(const stats_rule_t *rule, const double *x, int n, double elapsed_s,
                              double *lo, double *hi) {
  if (n < rule->min_repeats) return STATS_CONTINUE;
  if (stats_ci_due(rule, n, elapsed_s)) {
    double l = 0, h = 0;
    if (stats_bootstrap_median_ci(x, n, rule->resamples, rule->confidence, rule->seed, &l, &h)) {
      if (lo) *lo = l;
      if (hi) *hi = h;
      double m = stats_median(x, n);
      double width = h - l;
      if (width <= 0 || (m > 0 && width / m <= rule->ci_fraction)) return STATS_STOP_CI;
    }
  }
  if (n >= rule->max_repeats) return STATS_STOP_MAX_REPEATS;
  if (elapsed_s >= rule->max_time_s) return STATS_STOP_MAX_TIME;
  return STATS_CONTINUE;
}
