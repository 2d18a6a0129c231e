/* runner.c: verifies and measures one generated kernel (linked in from kernel.c, see
 * blk_kernel.h) and prints ONE JSON object on stdout.
 *
 *   runner --workload FILE [--warmup N] [--min-repeats N] [--max-repeats N] [--min-sample-us U]
 *          [--budget-s S] [--events E1,E2,...] [--seed S] [--cpu C] [--dump FILE]
 *   runner --probe [--events E1,E2,...]
 *
 * Workload file (little-endian):
 *   offset 0   char[4]  magic "BLKW"
 *   offset 4   u32      version (1)
 *   offset 8   u32      M (rows of W = outputs)
 *   offset 12  u32      K (columns of W = inputs)
 *   offset 16  f32[M*K] W, row-major
 *   then       u8[M*K]  mask (1 = kept, 0 = pruned)
 * and nothing else: the size must be exactly 16 + 5*M*K bytes. N (the batch) lives only in the
 * kernel (blk_kernel_dims).
 *
 * --dump FILE writes the inputs X [K*N] and the kernel's first output Y [M*N] as raw f32 (host
 * byte order), for checking the runner's own reference from outside.
 *
 * Steps: verify against a double-precision dense reference (a wrong kernel is reported as
 * "wrongResult" and never timed), warm up, calibrate the calls per sample, then time samples
 * while PAPI counts. Counters (one EventSet per PAPI component, plus the runner's own SDE counter
 * sde:::blkrew::MACS) run over exactly the timed calls.
 *
 * Exit status: 0 when a JSON result was printed for a measured or wrong kernel; 1 when the run
 * failed (bad workload, pack failure; a JSON object with outcome "runFailed" is still printed);
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <float.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <json-c/json.h>
#include <papi.h>
#include <sde_lib.h>

#include "blk_kernel.h"

#define RUNNER_SCHEMA_VERSION 1
#define MAX_EVENTS 64
#define MAX_SETS 16
#define SDE_EVENT "sde:::blkrew::MACS"

/* The runner's software-defined counter: the multiply-adds the kernel reports, summed over the
 * timed calls. Registered with PAPI's SDE library by address and read through a normal EventSet. */
static long long g_sde_macs = 0;

typedef struct {
  const char *workload;
  const char *dump;
  int probe;
  int warmup;
  int min_repeats;
  int max_repeats;
  long min_sample_us;
  double budget_s;
  char *events[MAX_EVENTS];
  int n_events;
  unsigned long long seed;
  int cpu; /* -1: not pinned */
} options_t;

typedef struct {
  const char *name;
  int available;
  long long value;
  char reason[512];
  int set; /* index into the event sets, -1 when unavailable */
  int slot;
} event_t;

typedef struct {
  int component;
  int eventset;
  int count;
  int started;
  long long values[MAX_EVENTS];
} eventset_t;

typedef struct {
  int papi_ok;
  char papi_version[64];
  char papi_error[256];
  event_t events[MAX_EVENTS + 1];
  int n_events;
  eventset_t sets[MAX_SETS];
  int n_sets;
  int sde_index; /* index of the SDE event in events[], -1 if none */
} counters_t;

/* ---------- small helpers ---------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a small seeded generator, identical on every platform. */
static unsigned long long rng_next(unsigned long long *s) {
  unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_unit(unsigned long long *s) {
  return (float)((double)(rng_next(s) >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
}

static void *alloc_aligned(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  return aligned_alloc(64, rounded);
}

static uint32_t read_u32_le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void print_json(json_object *o) {
  fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static json_object *base_object(const char *outcome) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "schema_version", json_object_new_int(RUNNER_SCHEMA_VERSION));
  json_object_object_add(o, "outcome", json_object_new_string(outcome));
  return o;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_object *o = base_object("runFailed");
  json_object_object_add(o, "message", json_object_new_string(msg));
  json_object_object_add(o, "samples_s", json_object_new_array());
  json_object_object_add(o, "calls_counted", json_object_new_int64(0));
  json_object_object_add(o, "counters", json_object_new_array());
  print_json(o);
  json_object_put(o);
  return 1;
}

/* ---------- options ---------- */

static int usage(const char *why) {
  fprintf(stderr,
          "runner: %s\nusage: runner --workload FILE [--warmup N] [--min-repeats N] [--max-repeats N]\n"
          "              [--min-sample-us U] [--budget-s S] [--events E1,E2,...] [--seed S] [--cpu C]\n"
          "              [--dump FILE]\n"
          "       runner --probe [--events E1,E2,...]\n",
          why);
  json_object *o = base_object("runFailed");
  json_object_object_add(o, "message", json_object_new_string(why));
  json_object_object_add(o, "samples_s", json_object_new_array());
  json_object_object_add(o, "calls_counted", json_object_new_int64(0));
  json_object_object_add(o, "counters", json_object_new_array());
  print_json(o);
  json_object_put(o);
  return 2;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static void split_events(options_t *o, char *list) {
  o->n_events = 0;
  for (char *tok = strtok(list, ","); tok && o->n_events < MAX_EVENTS; tok = strtok(NULL, ",")) {
    if (*tok) o->events[o->n_events++] = tok;
  }
}

static int parse_options(int argc, char **argv, options_t *o) {
  static char default_events[] = "PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_L1_DCM,PAPI_L2_DCM,PAPI_BR_MSP";
  memset(o, 0, sizeof *o);
  o->warmup = 2;
  o->min_repeats = 10;
  o->max_repeats = 200;
  o->min_sample_us = 1000;
  o->budget_s = 0.3;
  o->seed = 1;
  o->cpu = -1;
  split_events(o, default_events);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long long v = 0;
    if (!strcmp(a, "--probe")) {
      o->probe = 1;
      continue;
    }
    if (i + 1 >= argc) return 0;
    const char *val = argv[++i];
    if (!strcmp(a, "--workload")) o->workload = val;
    else if (!strcmp(a, "--dump")) o->dump = val;
    else if (!strcmp(a, "--warmup") && parse_long(val, 0, 1000000, &v)) o->warmup = (int)v;
    else if (!strcmp(a, "--min-repeats") && parse_long(val, 1, 10000000, &v)) o->min_repeats = (int)v;
    else if (!strcmp(a, "--max-repeats") && parse_long(val, 1, 10000000, &v)) o->max_repeats = (int)v;
    else if (!strcmp(a, "--min-sample-us") && parse_long(val, 0, 100000000, &v)) o->min_sample_us = (long)v;
    else if (!strcmp(a, "--seed") && parse_long(val, 0, INT64_MAX, &v)) o->seed = (unsigned long long)v;
    else if (!strcmp(a, "--cpu") && parse_long(val, 0, CPU_SETSIZE - 1, &v)) o->cpu = (int)v;
    else if (!strcmp(a, "--budget-s")) {
      char *end = NULL;
      o->budget_s = strtod(val, &end);
      if (end == val || *end || !(o->budget_s >= 0)) return 0;
    } else if (!strcmp(a, "--events")) {
      split_events(o, strdup(val));
    } else return 0;
  }
  if (o->max_repeats < o->min_repeats) o->max_repeats = o->min_repeats;
  return o->probe || o->workload != NULL;
}

/* ---------- PAPI ---------- */

static void papi_setup(counters_t *c, char **names, int n) {
  memset(c, 0, sizeof *c);
  c->sde_index = -1;
  int rc = PAPI_library_init(PAPI_VER_CURRENT);
  if (rc != PAPI_VER_CURRENT) {
    snprintf(c->papi_error, sizeof c->papi_error, "PAPI_library_init: %s",
             rc > 0 ? "version mismatch" : PAPI_strerror(rc));
  } else {
    c->papi_ok = 1;
    int v = PAPI_get_opt(PAPI_LIB_VERSION, NULL);
    snprintf(c->papi_version, sizeof c->papi_version, "%d.%d.%d.%d", PAPI_VERSION_MAJOR(v),
             PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v), PAPI_VERSION_INCREMENT(v));
  }
  /* The SDE counter: registered by address; PAPI reads g_sde_macs when the EventSet is read.
   * (papi_sde_* must really be called or --as-needed drops -lsde.) */
  papi_handle_t h = papi_sde_init("blkrew");
  int sde_rc = papi_sde_register_counter(h, "MACS", PAPI_SDE_RO | PAPI_SDE_DELTA, PAPI_SDE_long_long,
                                         &g_sde_macs);
  /* The requested events, then the SDE event last. */
  for (int i = 0; i <= n; i++) {
    event_t *e = &c->events[c->n_events++];
    e->name = i < n ? names[i] : SDE_EVENT;
    e->set = -1;
    if (i == n) c->sde_index = c->n_events - 1;
    if (!c->papi_ok) {
      snprintf(e->reason, sizeof e->reason, "%s", c->papi_error);
      continue;
    }
    if (i == n && sde_rc != SDE_OK) {
      snprintf(e->reason, sizeof e->reason, "papi_sde_register_counter failed (%d)", sde_rc);
      continue;
    }
    int code = 0;
    rc = PAPI_event_name_to_code(e->name, &code);
    if (rc != PAPI_OK) {
      snprintf(e->reason, sizeof e->reason, "PAPI_event_name_to_code: %s", PAPI_strerror(rc));
      continue;
    }
    int comp = PAPI_get_event_component(code);
    /* Events of different components cannot share an EventSet: one set per component. */
    int s = 0;
    while (s < c->n_sets && c->sets[s].component != comp) s++;
    if (s == c->n_sets) {
      if (c->n_sets == MAX_SETS) {
        snprintf(e->reason, sizeof e->reason, "too many PAPI components");
        continue;
      }
      c->sets[s].component = comp;
      c->sets[s].eventset = PAPI_NULL;
      rc = PAPI_create_eventset(&c->sets[s].eventset);
      if (rc != PAPI_OK) {
        snprintf(e->reason, sizeof e->reason, "PAPI_create_eventset: %s", PAPI_strerror(rc));
        continue;
      }
      c->n_sets++;
    }
    rc = PAPI_add_event(c->sets[s].eventset, code);
    if (rc != PAPI_OK) {
      const PAPI_component_info_t *ci = PAPI_get_component_info(comp);
      if (ci && ci->disabled)
        snprintf(e->reason, sizeof e->reason, "PAPI_add_event: %s (%d); component %s is disabled: %.160s",
                 PAPI_strerror(rc), rc, ci->name, ci->disabled_reason);
      else
        snprintf(e->reason, sizeof e->reason, "PAPI_add_event: %s (%d) in component %s", PAPI_strerror(rc),
                 rc, ci ? ci->name : "?");
      continue;
    }
    e->available = 1;
    e->set = s;
    e->slot = c->sets[s].count++;
  }
}

static void papi_start(counters_t *c) {
  for (int s = 0; s < c->n_sets; s++) {
    if (c->sets[s].count == 0) continue;
    int rc = PAPI_start(c->sets[s].eventset);
    if (rc == PAPI_OK) {
      c->sets[s].started = 1;
      continue;
    }
    for (int i = 0; i < c->n_events; i++) {
      event_t *e = &c->events[i];
      if (e->set == s) {
        e->available = 0;
        snprintf(e->reason, sizeof e->reason, "PAPI_start: %s (%d)", PAPI_strerror(rc), rc);
      }
    }
  }
}

static void papi_stop(counters_t *c) {
  for (int s = 0; s < c->n_sets; s++) {
    if (!c->sets[s].started) continue;
    int rc = PAPI_stop(c->sets[s].eventset, c->sets[s].values);
    c->sets[s].started = 0;
    for (int i = 0; i < c->n_events; i++) {
      event_t *e = &c->events[i];
      if (e->set != s || !e->available) continue;
      if (rc == PAPI_OK) {
        e->value = c->sets[s].values[e->slot];
      } else {
        e->available = 0;
        snprintf(e->reason, sizeof e->reason, "PAPI_stop: %s (%d)", PAPI_strerror(rc), rc);
      }
    }
  }
}

static json_object *counters_json(const counters_t *c) {
  json_object *arr = json_object_new_array();
  for (int i = 0; i < c->n_events; i++) {
    if (i == c->sde_index) continue;
    const event_t *e = &c->events[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(e->name));
    json_object_object_add(o, "available", json_object_new_boolean(e->available));
    if (e->available) json_object_object_add(o, "value", json_object_new_int64(e->value));
    else json_object_object_add(o, "reason", json_object_new_string(e->reason[0] ? e->reason : "unknown"));
    json_object_array_add(arr, o);
  }
  return arr;
}

/* The SDE reading is trusted only when it equals what the runner accounted: a misspelled SDE
 * name is accepted by PAPI and reads 0. With nothing accounted (expected 0) it proves nothing,
 * so `works` needs expected > 0. */
static json_object *sde_json(const counters_t *c, long long expected, int *works) {
  json_object *o = json_object_new_object();
  const event_t *e = c->sde_index >= 0 ? &c->events[c->sde_index] : NULL;
  long long read = e && e->available ? e->value : 0;
  *works = e && e->available && read == expected && expected > 0;
  json_object_object_add(o, "event", json_object_new_string(SDE_EVENT));
  json_object_object_add(o, "expected", json_object_new_int64(expected));
  json_object_object_add(o, "read", json_object_new_int64(read));
  json_object_object_add(o, "works", json_object_new_boolean(*works));
  if (e && !e->available) json_object_object_add(o, "reason", json_object_new_string(e->reason));
  return o;
}

static void add_papi_version(json_object *o, const counters_t *c) {
  json_object_object_add(o, "papi_version", c->papi_ok ? json_object_new_string(c->papi_version) : NULL);
}

/* ---------- probe ---------- */

static int run_probe(const options_t *opt) {
  counters_t c;
  papi_setup(&c, (char **)opt->events, opt->n_events);
  papi_start(&c);
  /* Some work for the hardware counters, and a known amount for the SDE counter. */
  volatile double sink = 0;
  for (int i = 0; i < 200000; i++) sink += (double)i * 0.5;
  g_sde_macs += 12345;
  papi_stop(&c);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "schema_version", json_object_new_int(RUNNER_SCHEMA_VERSION));
  add_papi_version(o, &c);
  if (!c.papi_ok) json_object_object_add(o, "message", json_object_new_string(c.papi_error));
  json_object_object_add(o, "events", counters_json(&c));
  int works = 0;
  json_object_object_add(o, "sde", sde_json(&c, 12345, &works));
  json_object_object_add(o, "sde_works", json_object_new_boolean(works));
  print_json(o);
  json_object_put(o);
  return 0;
}

/* ---------- workload ---------- */

static int read_workload(const char *path, int *M, int *K, float **W, unsigned char **mask, char *err,
                         size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open workload %s: %s", path, strerror(errno));
    return 0;
  }
  unsigned char hdr[16];
  if (fread(hdr, 1, 16, f) != 16) {
    fclose(f);
    snprintf(err, errlen, "workload %s: truncated header", path);
    return 0;
  }
  if (memcmp(hdr, "BLKW", 4) != 0) {
    fclose(f);
    snprintf(err, errlen, "workload %s: bad magic (not a blkrew workload file)", path);
    return 0;
  }
  uint32_t version = read_u32_le(hdr + 4), m = read_u32_le(hdr + 8), k = read_u32_le(hdr + 12);
  if (version != 1) {
    fclose(f);
    snprintf(err, errlen, "workload %s: unsupported version %u", path, version);
    return 0;
  }
  if (m == 0 || k == 0 || (uint64_t)m * k > (1ULL << 31) / 5) {
    fclose(f);
    snprintf(err, errlen, "workload %s: bad shape %ux%u", path, m, k);
    return 0;
  }
  size_t count = (size_t)m * k;
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    snprintf(err, errlen, "workload %s: cannot seek", path);
    return 0;
  }
  long size = ftell(f);
  if (size < 0 || (size_t)size != 16 + 5 * count) {
    fclose(f);
    snprintf(err, errlen, "workload %s: size %ld bytes, expected %zu for %ux%u", path, size, 16 + 5 * count,
             m, k);
    return 0;
  }
  fseek(f, 16, SEEK_SET);
  *W = alloc_aligned(sizeof(float) * count);
  *mask = alloc_aligned(count);
  unsigned char *raw = malloc(4 * count);
  if (!*W || !*mask || !raw || fread(raw, 4, count, f) != count || fread(*mask, 1, count, f) != count) {
    fclose(f);
    free(raw);
    snprintf(err, errlen, "workload %s: cannot read data", path);
    return 0;
  }
  fclose(f);
  for (size_t i = 0; i < count; i++) {
    uint32_t bits = read_u32_le(raw + 4 * i);
    memcpy(&(*W)[i], &bits, 4);
    if (!isfinite((*W)[i])) {
      free(raw);
      snprintf(err, errlen, "workload %s: weight %zu is not finite", path, i);
      return 0;
    }
  }
  free(raw);
  *M = (int)m;
  *K = (int)k;
  return 1;
}

/* ---------- measuring ---------- */

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  options_t opt;
  if (!parse_options(argc, argv, &opt)) return usage("bad arguments");

  int pinned = 0;
  if (opt.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.cpu, &set);
    pinned = sched_setaffinity(0, sizeof set, &set) == 0;
  }
  if (opt.probe) return run_probe(&opt);

  int M = 0, K = 0;
  float *W = NULL;
  unsigned char *mask = NULL;
  char err[1024];
  if (!read_workload(opt.workload, &M, &K, &W, &mask, err, sizeof err)) return fail("%s", err);
  const int N = blk_kernel_dims[2];
  if (M != blk_kernel_dims[0] || K != blk_kernel_dims[1])
    return fail("workload shape %dx%d does not match the kernel's %dx%d", M, K, blk_kernel_dims[0],
                blk_kernel_dims[1]);

  /* Inputs and the dense reference Y_ref = (W o mask) X, in double. */
  float *X = alloc_aligned(sizeof(float) * (size_t)K * N);
  float *Y = alloc_aligned(sizeof(float) * (size_t)M * N);
  double *Yref = malloc(sizeof(double) * (size_t)M * N);
  if (!X || !Y || !Yref) return fail("out of memory");
  unsigned long long s = opt.seed;
  double max_x = 0, max_w = 0;
  for (size_t i = 0; i < (size_t)K * N; i++) {
    X[i] = rng_unit(&s);
    if (fabs(X[i]) > max_x) max_x = fabs(X[i]);
  }
  for (int m = 0; m < M; m++) {
    for (int n = 0; n < N; n++) Yref[(size_t)m * N + n] = 0;
    for (int k = 0; k < K; k++) {
      if (!mask[(size_t)m * K + k]) continue;
      double w = W[(size_t)m * K + k];
      if (fabs(w) > max_w) max_w = fabs(w);
      for (int n = 0; n < N; n++) Yref[(size_t)m * N + n] += w * X[(size_t)k * N + n];
    }
  }
  for (size_t i = 0; i < (size_t)M * N; i++) Y[i] = NAN; /* a kernel must write all of Y */

  void *packed = blk_pack(W, mask, M, K);
  if (!packed) return fail("blk_pack failed");
  const long long macs_per_call = blk_kernel(packed, X, Y);
  if (opt.dump) {
    FILE *f = fopen(opt.dump, "wb");
    int ok = f && fwrite(X, sizeof(float), (size_t)K * N, f) == (size_t)K * N &&
             fwrite(Y, sizeof(float), (size_t)M * N, f) == (size_t)M * N;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok) return fail("cannot write %s", opt.dump);
  }
  double max_err = 0;
  int finite = 1;
  for (size_t i = 0; i < (size_t)M * N; i++) {
    if (!isfinite(Y[i])) finite = 0;
    double d = fabs((double)Y[i] - Yref[i]);
    if (d > max_err) max_err = d;
  }
  /* Tolerance. Each output is a float sum of at most K products |w x| <= max|W| max|X|. With X
   * random and symmetric, partial sums walk randomly and the accumulated rounding error is about
   * 0.12 K FLT_EPSILON max|W| max|X| (sqrt(sum_k k) u-sized steps); the worst-case bound
   * (gamma_K sum|w x|) is K^2 u and too loose to catch anything. c = 2 leaves a margin of ~16x
   * over the typical error for any summation order, FMA or not, while one skipped or doubled
   * column (an error of |w x|, typically ~0.25 max|W| max|X|) stays far above it up to K ~ 10^5.
   * The floor covers all-zero layers. */
  const double c_tol = 2.0;
  double tol = c_tol * (double)K * FLT_EPSILON * max_w * max_x;
  if (tol < 1e-30) tol = 1e-30;

  json_object *o = NULL;
  json_object *samples = json_object_new_array();
  counters_t c;
  papi_setup(&c, opt.events, opt.n_events);
  long long calls_counted = 0, inner = 0;

  if (!finite || !(max_err <= tol)) {
    o = base_object("wrongResult");
    char msg[256];
    snprintf(msg, sizeof msg, finite ? "max |Y - Y_ref| = %.3g exceeds the tolerance %.3g" :
                                       "the kernel produced non-finite values (max err %.3g, tol %.3g)",
             max_err, tol);
    json_object_object_add(o, "message", json_object_new_string(msg));
  } else {
    /* Warm-up and calibration: double `inner` until one sample lasts >= min-sample-us. */
    const double min_sample = (double)opt.min_sample_us * 1e-6;
    inner = 1;
    for (;;) {
      double t0 = now_s();
      for (long long i = 0; i < inner; i++) blk_kernel(packed, X, Y);
      double dt = now_s() - t0;
      if (dt >= min_sample || inner >= (1LL << 40)) break;
      long long next = dt > 0 ? (long long)(inner * (min_sample / dt) * 1.2) + 1 : inner * 10;
      if (next > inner * 10) next = inner * 10;
      if (next <= inner) next = inner * 2;
      inner = next;
    }
    for (int w = 0; w < opt.warmup; w++)
      for (long long i = 0; i < inner; i++) blk_kernel(packed, X, Y);

    /* Timed samples; the counters cover exactly these calls (and the loop around them). */
    papi_start(&c);
    const double start = now_s();
    int taken = 0;
    while (taken < opt.max_repeats) {
      double t0 = now_s();
      for (long long i = 0; i < inner; i++) g_sde_macs += blk_kernel(packed, X, Y);
      double t1 = now_s();
      json_object_array_add(samples, json_object_new_double((t1 - t0) / (double)inner));
      calls_counted += inner;
      taken++;
      if (taken >= opt.min_repeats && t1 - start >= opt.budget_s) break;
    }
    papi_stop(&c);
    o = base_object("measured");
  }
  json_object_object_add(o, "max_abs_err", finite ? json_object_new_double(max_err) : NULL);
  json_object_object_add(o, "tolerance", json_object_new_double(tol));
  json_object_object_add(o, "macs_per_call", json_object_new_int64(macs_per_call));
  json_object_object_add(o, "samples_s", samples);
  json_object_object_add(o, "inner_calls", json_object_new_int64(inner));
  json_object_object_add(o, "calls_counted", json_object_new_int64(calls_counted));
  json_object_object_add(o, "counters", counters_json(&c));
  int works = 0;
  json_object_object_add(o, "sde", sde_json(&c, macs_per_call * calls_counted, &works));
  add_papi_version(o, &c);
  json_object_object_add(o, "cpu", opt.cpu >= 0 && pinned ? json_object_new_int(opt.cpu) : NULL);
  json_object_object_add(o, "pinned", json_object_new_boolean(pinned));
  json_object *shape = json_object_new_object();
  json_object_object_add(shape, "m", json_object_new_int(M));
  json_object_object_add(shape, "k", json_object_new_int(K));
  json_object_object_add(shape, "n", json_object_new_int(N));
  json_object_object_add(o, "shape", shape);
  json_object_object_add(o, "seed", json_object_new_int64((long long)opt.seed));
  print_json(o);
  json_object_put(o);
  blk_free(packed);
  return 0;
}
