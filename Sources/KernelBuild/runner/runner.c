/* runner.c: verifies and measures one generated kernel (linked in from kernel.c, see
 * blk_kernel.h) and prints ONE JSON object on stdout.
 *
 *   runner --workload FILE [--warmup N] [--min-repeats N] [--max-repeats N] [--min-sample-us U]
 *          [--ci-fraction F] [--min-time-s S] [--max-time-s S | --budget-s S] [--events E1,E2,...]
 *          [--event-groups "E1,E2;E3"] [--multiplex] [--flush] [--seed S] [--cpu C]
 *          [--wait-idle S] [--idle-threshold F] [--idle-window-ms MS] [--dump FILE]
 *   runner --workload FILE --simulate N [--seed S] [--cpu C]
 *   runner --probe [--events E1,E2,... | --event-groups ...] [--multiplex]
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
 * "wrongResult" and never timed); check how busy the other CPUs are (/proc/stat over
 * --idle-window-ms, runnable count from /proc/loadavg; --wait-idle S waits up to S s for the busy
 * fraction to drop below --idle-threshold, and a busy machine is recorded in "warnings"); warm
 * up; calibrate the calls per sample (one call per sample with --flush, which evicts the caches
 * with a buffer of 2x the last-level cache before every sample: "cache_mode": "cold"); measure
 * the cost of a clock_gettime pair ("clock_overhead_s", subtracted from every sample) and what a
 * counter start/stop adds to each counter around an empty region (median of 21, "overhead",
 * subtracted once per start/stop pair: "value" = "raw_value" - overhead x segments); then pass 0
 * takes samples until the stopping rule of stats.h says stop ("stop_reason": ci | max_repeats |
 * max_time, the final bootstrap CI of the median in "ci_low_s" / "ci_high_s"; with --min-time-s S
 * the CI stop waits until S seconds of sampling have passed, "min_time_s"). The counters are
 * paused (stopped and accumulated) while the rule computes its CI and while the caches are
 * flushed, so they cover the timed calls and the loop around them only.
 *
 * Counters: PAPI events (one EventSet per component and pass) plus the runner's own SDE counter
 * sde:::blkrew::MACS, and perf software events (perf::task-clock, perf::page-faults,
 * perf::context-switches, perf::cpu-clock, perf::cpu-migrations, perf::minor-faults,
 * perf::major-faults) opened by the runner itself with perf_event_open (exclude_kernel=1 when the
 * kernel refuses more). Any other sde::: name is recorded unavailable without asking PAPI, which
 * accepts unknown SDE names and reads them as 0. perf events are read with their enabled and
 * running times ("time_enabled_ns", "time_running_ns", summed over the counted segments): a
 * count that ran for part of its enabled time is scaled by enabled / running ("scale",
 * "estimate": true; "raw_value" stays the count as read) and one that never ran is unavailable
 * ("never scheduled"), never 0. When PAPI cannot add an event to its component's EventSet because of
 * too many or conflicting events (PAPI_ECNFLCT, PAPI_ECOMBO), the event goes to an EventSet of
 * a later pass; --event-groups "A,B;C" fixes the passes (one group per pass; events not named
 * there are not counted; the SDE counter goes to pass 0 unless named). Pass p > 0 replays the
 * samples of pass 0 (same number of calls) with its own counters; every event records its
 * "pass". --multiplex turns on PAPI multiplexing for every EventSet: the values of a multiplexed
 * EventSet are PAPI's estimates ("multiplexed": true, "estimate": true).
 *
 * --simulate N never initialises PAPI (PAPI must never run under valgrind): it verifies the
 * kernel, runs exactly N more calls and prints a small JSON object. Cachegrind's counts of a run
 * with N calls minus a run with 0 calls, divided by N, are the cost of one (warm) call.
 *
 * Exit status: 0 when a JSON result was printed for a measured or wrong kernel; 1 when the run
 * failed (bad workload, pack failure; a JSON object with outcome "runFailed" is still printed);
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <linux/perf_event.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <papi.h>
#include <sde_lib.h>

#include "blk_kernel.h"
#include "stats.h"

#define RUNNER_SCHEMA_VERSION 2
#define MAX_EVENTS 64
#define MAX_SETS 32
#define MAX_PASSES 8
#define OVERHEAD_REPS 21
#define MAX_WARNINGS 16
#define SDE_EVENT "sde:::blkrew::MACS"
#define DEFAULT_LLC_BYTES (32u << 20)

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
  double max_time_s;
  double min_time_s;
  double ci_fraction;
  char *events[MAX_EVENTS];
  int event_pass[MAX_EVENTS]; /* requested pass of each event (its group with --event-groups) */
  int n_events;
  int explicit_groups;
  int multiplex;
  int flush;
  long long simulate; /* -1: not simulating */
  double wait_idle_s;
  double idle_threshold;
  long idle_window_ms;
  unsigned long long seed;
  int cpu; /* -1: not pinned */
} options_t;

typedef enum { SRC_PAPI, SRC_PERF } source_t;

typedef struct {
  const char *name;
  source_t source;
  int available;
  char reason[512];
  int pass;
  int set; /* PAPI: index into the event sets, -1 when unavailable */
  int slot;
  int fd;  /* perf: the perf_event_open descriptor, -1 when unavailable */
  int exclude_kernel;
  int multiplexed;
  long long raw;      /* summed over the segments of its pass */
  long long overhead; /* median reading of one start/stop pair around nothing */
  int overhead_measured;
  /* perf: the kernel's cumulative enabled / running times at the last read, the same summed over
   * the counted segments (read_format TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING), how many counted
   * segments were read, and the factor the count is scaled by (0 until perf_finish). */
  unsigned long long last_enabled, last_running;
  unsigned long long time_enabled, time_running;
  long long reads;
  double scale;
} event_t;

typedef struct {
  int component;
  int eventset;
  int pass;
  int count;
  int started;
  int multiplexed;
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
  int multiplexed; /* some EventSet is multiplexed */
  long long segments[MAX_PASSES]; /* start/stop pairs of each pass */
  double pass_seconds[MAX_PASSES];
  long long pass_calls[MAX_PASSES];
} counters_t;

typedef struct {
  char items[MAX_WARNINGS][512];
  int n;
} warnings_t;

static void warn(warnings_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(warnings_t *w, const char *fmt, ...) {
  if (w->n >= MAX_WARNINGS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->items[w->n++], sizeof w->items[0], fmt, ap);
  va_end(ap);
}

/* ---------- small helpers ---------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
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
          "              [--min-sample-us U] [--ci-fraction F] [--min-time-s S]\n"
          "              [--max-time-s S | --budget-s S]\n"
          "              [--events E1,E2,...] [--event-groups \"E1,E2;E3\"] [--multiplex] [--flush]\n"
          "              [--seed S] [--cpu C] [--wait-idle S] [--idle-threshold F]\n"
          "              [--idle-window-ms MS] [--dump FILE]\n"
          "       runner --workload FILE --simulate N [--seed S] [--cpu C]\n"
          "       runner --probe [--events E1,E2,... | --event-groups ...] [--multiplex]\n",
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

static int parse_double(const char *s, double lo, double hi, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo) || !(v <= hi)) return 0;
  *out = v;
  return 1;
}

/* "A,B;C,D": events separated by commas, passes by semicolons (empty groups are skipped). With
 * `grouped` == 0 the whole list is one group. */
static void split_events(options_t *o, char *list, int grouped) {
  o->n_events = 0;
  o->explicit_groups = grouped;
  int group = 0;
  char *save_group = NULL;
  for (char *g = strtok_r(list, grouped ? ";" : "", &save_group); g; g = strtok_r(NULL, ";", &save_group)) {
    int added = 0;
    char *save = NULL;
    for (char *tok = strtok_r(g, ",", &save); tok && o->n_events < MAX_EVENTS; tok = strtok_r(NULL, ",", &save)) {
      while (isspace((unsigned char)*tok)) tok++;
      char *end = tok + strlen(tok);
      while (end > tok && isspace((unsigned char)end[-1])) *--end = 0;
      if (!*tok) continue;
      o->event_pass[o->n_events] = group < MAX_PASSES ? group : MAX_PASSES - 1;
      o->events[o->n_events++] = tok;
      added = 1;
    }
    if (added) group++;
    if (!grouped) break;
  }
}

static int parse_options(int argc, char **argv, options_t *o) {
  static char default_events[] = "PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_L1_DCM,PAPI_L2_DCM,PAPI_BR_MSP,"
                                 "perf::task-clock,perf::page-faults,perf::context-switches";
  memset(o, 0, sizeof *o);
  o->warmup = 2;
  o->min_repeats = 10;
  o->max_repeats = 200;
  o->min_sample_us = 1000;
  o->max_time_s = 0.3;
  o->ci_fraction = 0.02;
  o->simulate = -1;
  o->idle_threshold = 0.1;
  o->idle_window_ms = 100;
  o->seed = 1;
  o->cpu = -1;
  split_events(o, default_events, 0);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long long v = 0;
    if (!strcmp(a, "--probe")) {
      o->probe = 1;
      continue;
    }
    if (!strcmp(a, "--flush")) {
      o->flush = 1;
      continue;
    }
    if (!strcmp(a, "--multiplex")) {
      o->multiplex = 1;
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
    else if (!strcmp(a, "--simulate") && parse_long(val, 0, INT64_MAX, &v)) o->simulate = v;
    else if (!strcmp(a, "--idle-window-ms") && parse_long(val, 0, 10000, &v)) o->idle_window_ms = (long)v;
    else if ((!strcmp(a, "--budget-s") || !strcmp(a, "--max-time-s")) && parse_double(val, 0, 1e9, &o->max_time_s)) {
    } else if (!strcmp(a, "--ci-fraction") && parse_double(val, 0, 1e9, &o->ci_fraction)) {
    } else if (!strcmp(a, "--min-time-s") && parse_double(val, 0, 1e9, &o->min_time_s)) {
    } else if (!strcmp(a, "--wait-idle") && parse_double(val, 0, 1e6, &o->wait_idle_s)) {
    } else if (!strcmp(a, "--idle-threshold") && parse_double(val, 0, 1, &o->idle_threshold)) {
    } else if (!strcmp(a, "--events")) {
      char *copy = strdup(val);
      if (!copy) return 0;
      split_events(o, copy, 0);
    } else if (!strcmp(a, "--event-groups")) {
      char *copy = strdup(val);
      if (!copy) return 0;
      split_events(o, copy, 1);
    } else return 0;
  }
  if (o->max_repeats < o->min_repeats) o->max_repeats = o->min_repeats;
  return o->probe || o->workload != NULL;
}

/* ---------- perf software events ---------- */

static const struct {
  const char *name;
  const char *alias;  /* perf(1)'s short name, or NULL */
  const char *kernel; /* the kernel's enum name */
  unsigned long long config;
} perf_sw_events[] = {
    {"task-clock", NULL, "PERF_COUNT_SW_TASK_CLOCK", PERF_COUNT_SW_TASK_CLOCK},
    {"cpu-clock", NULL, "PERF_COUNT_SW_CPU_CLOCK", PERF_COUNT_SW_CPU_CLOCK},
    {"page-faults", "faults", "PERF_COUNT_SW_PAGE_FAULTS", PERF_COUNT_SW_PAGE_FAULTS},
    {"minor-faults", NULL, "PERF_COUNT_SW_PAGE_FAULTS_MIN", PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"major-faults", NULL, "PERF_COUNT_SW_PAGE_FAULTS_MAJ", PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    {"context-switches", "cs", "PERF_COUNT_SW_CONTEXT_SWITCHES", PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cpu-migrations", "migrations", "PERF_COUNT_SW_CPU_MIGRATIONS", PERF_COUNT_SW_CPU_MIGRATIONS},
    {"alignment-faults", NULL, "PERF_COUNT_SW_ALIGNMENT_FAULTS", PERF_COUNT_SW_ALIGNMENT_FAULTS},
    {"emulation-faults", NULL, "PERF_COUNT_SW_EMULATION_FAULTS", PERF_COUNT_SW_EMULATION_FAULTS},
    {"cgroup-switches", NULL, "PERF_COUNT_SW_CGROUP_SWITCHES", 11 /* PERF_COUNT_SW_CGROUP_SWITCHES */},
};

/* The perf software event a name like "perf::task-clock" means (any case; perf's short names
 * and the kernel's PERF_COUNT_SW_* names too; a ":u" modifier counts user space only), or -1:
 * then PAPI gets the name (other perf:: names are native events of PAPI's perf_event
 * component). */
static int perf_sw_index(const char *name, int *user_only) {
  if (strncasecmp(name, "perf::", 6) != 0) return -1;
  const char *base = name + 6;
  size_t len = strcspn(base, ":");
  *user_only = base[len] == ':' && !strcasecmp(base + len, ":u");
  for (size_t i = 0; i < sizeof perf_sw_events / sizeof perf_sw_events[0]; i++) {
    const char *names[3] = {perf_sw_events[i].name, perf_sw_events[i].alias, perf_sw_events[i].kernel};
    for (int k = 0; k < 3; k++)
      if (names[k] && strlen(names[k]) == len && !strncasecmp(base, names[k], len)) return (int)i;
  }
  return -1;
}

static void perf_open(event_t *e, int which, int user_only) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_SOFTWARE;
  a.size = sizeof a;
  a.config = perf_sw_events[which].config;
  a.disabled = 1;
  a.exclude_hv = 1;
  a.exclude_kernel = user_only;
  /* With the times a count is read with, a share of the enabled time lost to multiplexing can be
   * scaled back, and an event that never ran is told apart from one that counted 0. */
  a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EPERM)) {
    a.exclude_kernel = 1; /* what perf_event_paranoid allows an unprivileged process */
    fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  }
  if (fd < 0) {
    int err = errno;
    char paranoid[32] = "?";
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
    if (f) {
      if (!fgets(paranoid, sizeof paranoid, f)) strcpy(paranoid, "?");
      paranoid[strcspn(paranoid, "\n")] = 0;
      fclose(f);
    }
    snprintf(e->reason, sizeof e->reason, "perf_event_open(%s): %s (errno %d; perf_event_paranoid %s)",
             perf_sw_events[which].name, strerror(err), err, paranoid);
    return;
  }
  e->fd = (int)fd;
  e->exclude_kernel = a.exclude_kernel;
  e->available = 1;
}

/* ---------- PAPI and the counters of each pass ---------- */

static int papi_init(counters_t *c, int multiplex, warnings_t *w) {
  int rc = PAPI_library_init(PAPI_VER_CURRENT);
  if (rc != PAPI_VER_CURRENT) {
    snprintf(c->papi_error, sizeof c->papi_error, "PAPI_library_init: %s",
             rc > 0 ? "version mismatch" : PAPI_strerror(rc));
    return 0;
  }
  c->papi_ok = 1;
  int v = PAPI_get_opt(PAPI_LIB_VERSION, NULL);
  snprintf(c->papi_version, sizeof c->papi_version, "%d.%d.%d.%d", PAPI_VERSION_MAJOR(v),
           PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v), PAPI_VERSION_INCREMENT(v));
  if (multiplex) {
    rc = PAPI_multiplex_init();
    if (rc != PAPI_OK) warn(w, "PAPI_multiplex_init: %s (%d); counting without multiplexing", PAPI_strerror(rc), rc);
  }
  return 1;
}

/* The EventSet of component `comp` in pass `pass`, created when missing; -1 with a reason. */
static int set_for(counters_t *c, int comp, int pass, int multiplex, char *reason, size_t len, warnings_t *w) {
  for (int s = 0; s < c->n_sets; s++)
    if (c->sets[s].component == comp && c->sets[s].pass == pass) return s;
  if (c->n_sets == MAX_SETS) {
    snprintf(reason, len, "too many PAPI EventSets (%d)", MAX_SETS);
    return -1;
  }
  eventset_t *es = &c->sets[c->n_sets];
  memset(es, 0, sizeof *es);
  es->component = comp;
  es->pass = pass;
  es->eventset = PAPI_NULL;
  int rc = PAPI_create_eventset(&es->eventset);
  if (rc != PAPI_OK) {
    snprintf(reason, len, "PAPI_create_eventset: %s (%d)", PAPI_strerror(rc), rc);
    return -1;
  }
  if (multiplex) {
    /* A multiplexed EventSet must know its component before PAPI_set_multiplex. */
    rc = PAPI_assign_eventset_component(es->eventset, comp);
    if (rc == PAPI_OK) rc = PAPI_set_multiplex(es->eventset);
    if (rc == PAPI_OK) {
      es->multiplexed = 1;
    } else {
      const PAPI_component_info_t *ci = PAPI_get_component_info(comp);
      warn(w, "PAPI_set_multiplex (component %s, pass %d): %s (%d); that EventSet is not multiplexed",
           ci ? ci->name : "?", pass, PAPI_strerror(rc), rc);
    }
  }
  return c->n_sets++;
}

static void papi_add(counters_t *c, event_t *e, const char *papi_name, int want_pass, int multiplex,
                     warnings_t *w) {
  if (!c->papi_ok) {
    snprintf(e->reason, sizeof e->reason, "%s", c->papi_error);
    return;
  }
  int code = 0;
  int rc = PAPI_event_name_to_code(papi_name, &code);
  if (rc != PAPI_OK) {
    snprintf(e->reason, sizeof e->reason, "PAPI_event_name_to_code: %s (%d)", PAPI_strerror(rc), rc);
    return;
  }
  int comp = PAPI_get_event_component(code);
  /* Events of different components cannot share an EventSet (one set per component and pass);
   * too many or conflicting events of one component go to the next pass. */
  for (int pass = want_pass; pass < MAX_PASSES; pass++) {
    int s = set_for(c, comp, pass, multiplex, e->reason, sizeof e->reason, w);
    if (s < 0) return;
    rc = PAPI_add_event(c->sets[s].eventset, code);
    if (rc != PAPI_OK && c->sets[s].multiplexed && c->sets[s].count == 0) {
      /* Some components (sde) accept PAPI_set_multiplex and then refuse every event: count
       * this component's events in a plain EventSet instead. */
      const PAPI_component_info_t *ci = PAPI_get_component_info(comp);
      eventset_t *es = &c->sets[s];
      PAPI_cleanup_eventset(es->eventset);
      PAPI_destroy_eventset(&es->eventset);
      es->eventset = PAPI_NULL;
      es->multiplexed = 0;
      int rc2 = PAPI_create_eventset(&es->eventset);
      if (rc2 != PAPI_OK) {
        snprintf(e->reason, sizeof e->reason, "PAPI_create_eventset: %s (%d)", PAPI_strerror(rc2), rc2);
        return;
      }
      warn(w, "component %s refused %s in a multiplexed EventSet (%s); counting it without multiplexing",
           ci ? ci->name : "?", e->name, PAPI_strerror(rc));
      rc = PAPI_add_event(es->eventset, code);
    }
    if (rc == PAPI_OK) {
      e->available = 1;
      e->pass = pass;
      e->set = s;
      e->slot = c->sets[s].count++;
      e->multiplexed = c->sets[s].multiplexed;
      if (e->multiplexed) c->multiplexed = 1;
      e->reason[0] = 0;
      return;
    }
    const PAPI_component_info_t *ci = PAPI_get_component_info(comp);
    if ((rc == PAPI_ECNFLCT || rc == PAPI_ECOMBO) && c->sets[s].count > 0) {
      snprintf(e->reason, sizeof e->reason, "PAPI_add_event: %s (%d) in component %s up to pass %d",
               PAPI_strerror(rc), rc, ci ? ci->name : "?", pass);
      continue; /* try an EventSet of the next pass */
    }
    if (ci && ci->disabled)
      snprintf(e->reason, sizeof e->reason, "PAPI_add_event: %s (%d); component %s is disabled: %.160s",
               PAPI_strerror(rc), rc, ci->name, ci->disabled_reason);
    else
      snprintf(e->reason, sizeof e->reason, "PAPI_add_event: %s (%d) in component %s", PAPI_strerror(rc),
               rc, ci ? ci->name : "?");
    return;
  }
}

/* Sets up the requested events (and the SDE counter, in pass 0 unless named). Never called in
 * simulation mode. */
static void counters_setup(counters_t *c, const options_t *opt, warnings_t *w) {
  memset(c, 0, sizeof *c);
  c->sde_index = -1;
  int papi = papi_init(c, opt->multiplex, w);
  /* The SDE counter: registered by address; PAPI reads g_sde_macs when the EventSet is read.
   * (papi_sde_* must really be called or --as-needed drops -lsde.) */
  papi_handle_t h = papi_sde_init("blkrew");
  int sde_rc = papi_sde_register_counter(h, "MACS", PAPI_SDE_RO | PAPI_SDE_DELTA, PAPI_SDE_long_long,
                                         &g_sde_macs);
  int sde_named = 0;
  for (int i = 0; i < opt->n_events; i++)
    if (!strcasecmp(opt->events[i], SDE_EVENT)) sde_named = 1;
  int n = opt->n_events;
  for (int i = 0; i < n + !sde_named; i++) {
    event_t *e = &c->events[c->n_events++];
    e->name = i < n ? opt->events[i] : SDE_EVENT;
    e->set = -1;
    e->fd = -1;
    int want_pass = i < n ? opt->event_pass[i] : 0;
    e->pass = want_pass;
    /* The same name twice in one pass is counted once. (A planner may put the SDE counter and
     * perf software events into every pass: each pass then reads its own.) */
    int duplicate = 0;
    for (int j = 0; j < c->n_events - 1; j++)
      if (!strcasecmp(c->events[j].name, e->name) && c->events[j].pass == want_pass) duplicate = 1;
    if (duplicate) {
      snprintf(e->reason, sizeof e->reason, "duplicate of an event of pass %d", want_pass);
      continue;
    }
    int is_sde = !strcasecmp(e->name, SDE_EVENT);
    if (!is_sde && !strncasecmp(e->name, "sde:::", 6)) {
      /* PAPI_add_event accepts any sde::: name and reads an unregistered one as 0. */
      snprintf(e->reason, sizeof e->reason,
               "no such SDE counter: the runner registers only %s; PAPI accepts unknown sde names "
               "and would read 0",
               SDE_EVENT);
      continue;
    }
    if (is_sde) {
      if (c->sde_index < 0) c->sde_index = c->n_events - 1; /* the one reported as "sde" */
      if (papi && sde_rc != SDE_OK) {
        snprintf(e->reason, sizeof e->reason, "papi_sde_register_counter failed (%d)", sde_rc);
        continue;
      }
    }
    int user_only = 0;
    int sw = perf_sw_index(e->name, &user_only);
    if (sw >= 0) {
      e->source = SRC_PERF;
      perf_open(e, sw, user_only);
      continue;
    }
    e->source = SRC_PAPI;
    /* The SDE counter under its registered spelling whatever the case asked for. */
    papi_add(c, e, is_sde ? SDE_EVENT : e->name, want_pass, opt->multiplex, w);
  }
}

static int counters_n_passes(const counters_t *c) {
  int n = 1;
  for (int i = 0; i < c->n_events; i++)
    if (c->events[i].available && c->events[i].pass + 1 > n) n = c->events[i].pass + 1;
  return n;
}

static int pass_has_events(const counters_t *c, int pass) {
  for (int i = 0; i < c->n_events; i++)
    if (c->events[i].available && c->events[i].pass == pass) return 1;
  return 0;
}

static void mark_set_failed(counters_t *c, int s, const char *what, int rc) {
  for (int i = 0; i < c->n_events; i++) {
    event_t *e = &c->events[i];
    if (e->source == SRC_PAPI && e->set == s && e->available) {
      e->available = 0;
      snprintf(e->reason, sizeof e->reason, "%s: %s (%d)", what, PAPI_strerror(rc), rc);
    }
  }
}

/* Starts the counters of one pass: PAPI EventSets first (PAPI_start zeroes them), then the perf
 * descriptors (reset, enable). */
static void pass_start(counters_t *c, int pass) {
  for (int s = 0; s < c->n_sets; s++) {
    eventset_t *es = &c->sets[s];
    if (es->pass != pass || es->count == 0) continue;
    int rc = PAPI_start(es->eventset);
    if (rc == PAPI_OK) es->started = 1;
    else mark_set_failed(c, s, "PAPI_start", rc);
  }
  for (int i = 0; i < c->n_events; i++) {
    event_t *e = &c->events[i];
    if (e->source != SRC_PERF || !e->available || e->pass != pass) continue;
    ioctl(e->fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(e->fd, PERF_EVENT_IOC_ENABLE, 0);
  }
}

/* Stops the counters of one pass (perf first, the reverse order of pass_start) and adds each
 * event's reading to out[event index]; with `counted`, a perf event's enabled and running times
 * of this segment are added to its totals too (not for the overhead's empty regions). */
static void pass_stop(counters_t *c, int pass, long long *out, int counted) {
  for (int i = 0; i < c->n_events; i++) {
    event_t *e = &c->events[i];
    if (e->source != SRC_PERF || !e->available || e->pass != pass) continue;
    ioctl(e->fd, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t v[3] = {0, 0, 0}; /* value, time_enabled, time_running */
    ssize_t got = read(e->fd, v, sizeof v);
    if (got != (ssize_t)sizeof v) {
      e->available = 0;
      snprintf(e->reason, sizeof e->reason, "read(perf fd): %s",
               got < 0 ? strerror(errno) : "short read");
      continue;
    }
    out[i] += (long long)v[0];
    /* The times are cumulative since the open (PERF_EVENT_IOC_RESET zeroes only the count):
     * this segment's share is the difference to the last read. */
    unsigned long long enabled = v[1] >= e->last_enabled ? v[1] - e->last_enabled : v[1];
    unsigned long long run = v[2] >= e->last_running ? v[2] - e->last_running : v[2];
    e->last_enabled = v[1];
    e->last_running = v[2];
    if (counted) {
      e->time_enabled += enabled;
      e->time_running += run;
      e->reads++;
    }
  }
  for (int s = 0; s < c->n_sets; s++) {
    eventset_t *es = &c->sets[s];
    if (es->pass != pass || !es->started) continue;
    int rc = PAPI_stop(es->eventset, es->values);
    es->started = 0;
    if (rc != PAPI_OK) {
      mark_set_failed(c, s, "PAPI_stop", rc);
      continue;
    }
    for (int i = 0; i < c->n_events; i++) {
      event_t *e = &c->events[i];
      if (e->source == SRC_PAPI && e->set == s && e->available) out[i] += es->values[e->slot];
    }
  }
}

/* What one start/stop pair of `pass` adds to each counter: the median reading around an empty
 * region over OVERHEAD_REPS pairs. */
static void measure_overhead(counters_t *c, int pass) {
  static long long readings[MAX_EVENTS + 1][OVERHEAD_REPS];
  for (int r = 0; r < OVERHEAD_REPS; r++) {
    long long out[MAX_EVENTS + 1] = {0};
    pass_start(c, pass);
    pass_stop(c, pass, out, 0);
    for (int i = 0; i < c->n_events; i++) readings[i][r] = out[i];
  }
  for (int i = 0; i < c->n_events; i++) {
    event_t *e = &c->events[i];
    if (!e->available || e->pass != pass) continue;
    qsort(readings[i], OVERHEAD_REPS, sizeof(long long), cmp_ll);
    e->overhead = readings[i][OVERHEAD_REPS / 2];
    e->overhead_measured = 1;
  }
}

/* After the last pass: a perf event that was read but never ran is unavailable ("never
 * scheduled": unknown, not 0); one that ran for only part of its enabled time is scaled by
 * enabled / running, the way perf stat does. Events never read (no measurement) are left alone. */
static void perf_finish(counters_t *c) {
  for (int i = 0; i < c->n_events; i++) {
    event_t *e = &c->events[i];
    if (e->source != SRC_PERF || !e->available || e->reads == 0) continue;
    if (e->time_running == 0) {
      e->available = 0;
      snprintf(e->reason, sizeof e->reason,
               "never scheduled: time_running 0 ns of time_enabled %llu ns over %lld segment(s)",
               e->time_enabled, e->reads);
      continue;
    }
    e->scale = e->time_running < e->time_enabled ? (double)e->time_enabled / (double)e->time_running : 1.0;
  }
}

/* The count extrapolated to the whole enabled time (perf events that did not run all of it). */
static long long scaled_raw(const event_t *e) {
  return e->scale > 1 ? llround((double)e->raw * e->scale) : e->raw;
}

static long long corrected_value(const counters_t *c, const event_t *e) {
  long long v = scaled_raw(e) - (e->overhead_measured ? e->overhead * c->segments[e->pass] : 0);
  return v < 0 ? 0 : v;
}

static void add_perf_times(json_object *o, const event_t *e) {
  if (e->source != SRC_PERF || e->reads == 0) return;
  json_object_object_add(o, "time_enabled_ns", json_object_new_int64((long long)e->time_enabled));
  json_object_object_add(o, "time_running_ns", json_object_new_int64((long long)e->time_running));
}

static json_object *counters_json(const counters_t *c) {
  json_object *arr = json_object_new_array();
  for (int i = 0; i < c->n_events; i++) {
    if (i == c->sde_index) continue;
    const event_t *e = &c->events[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(e->name));
    json_object_object_add(o, "available", json_object_new_boolean(e->available));
    json_object_object_add(o, "source", json_object_new_string(e->source == SRC_PERF ? "perf" : "papi"));
    if (e->available) {
      json_object_object_add(o, "value", json_object_new_int64(corrected_value(c, e)));
      json_object_object_add(o, "raw_value", json_object_new_int64(e->raw));
      if (e->overhead_measured) json_object_object_add(o, "overhead", json_object_new_int64(e->overhead));
      json_object_object_add(o, "pass", json_object_new_int(e->pass));
      if (e->multiplexed) json_object_object_add(o, "multiplexed", json_object_new_boolean(1));
      if (e->source == SRC_PERF)
        json_object_object_add(o, "exclude_kernel", json_object_new_boolean(e->exclude_kernel));
      add_perf_times(o, e);
      if (e->source == SRC_PERF && e->scale > 0)
        json_object_object_add(o, "scale", json_object_new_double(e->scale));
      /* A multiplexed PAPI value and a scaled perf count are extrapolations, not counts. */
      if (e->multiplexed || e->scale > 1) json_object_object_add(o, "estimate", json_object_new_boolean(1));
    } else {
      json_object_object_add(o, "reason", json_object_new_string(e->reason[0] ? e->reason : "unknown"));
      add_perf_times(o, e);
    }
    json_object_array_add(arr, o);
  }
  return arr;
}

/* The SDE reading is trusted only when it equals what the runner accounted: a misspelled SDE
 * name is accepted by PAPI and reads 0. With nothing accounted (expected 0) it proves nothing,
 * so `works` needs expected > 0. The reading is the raw one (its start/stop overhead is 0 and
 * is reported). */
static json_object *sde_json(const counters_t *c, long long expected, int *works) {
  json_object *o = json_object_new_object();
  const event_t *e = c->sde_index >= 0 ? &c->events[c->sde_index] : NULL;
  long long read = e && e->available ? e->raw : 0;
  *works = e && e->available && read == expected && expected > 0;
  /* With the SDE counter in several passes, every pass must have read the same work. */
  for (int i = 0; i < c->n_events; i++) {
    const event_t *x = &c->events[i];
    if (i != c->sde_index && x->available && !strcasecmp(x->name, SDE_EVENT) && x->raw != expected) *works = 0;
  }
  json_object_object_add(o, "event", json_object_new_string(SDE_EVENT));
  json_object_object_add(o, "expected", json_object_new_int64(expected));
  json_object_object_add(o, "read", json_object_new_int64(read));
  json_object_object_add(o, "works", json_object_new_boolean(*works));
  if (e && e->available) {
    json_object_object_add(o, "pass", json_object_new_int(e->pass));
    if (e->overhead_measured) json_object_object_add(o, "overhead", json_object_new_int64(e->overhead));
  }
  if (e && !e->available) json_object_object_add(o, "reason", json_object_new_string(e->reason));
  return o;
}

static void add_papi_version(json_object *o, const counters_t *c) {
  json_object_object_add(o, "papi_version", c->papi_ok ? json_object_new_string(c->papi_version) : NULL);
}

static json_object *warnings_json(const warnings_t *w) {
  json_object *arr = json_object_new_array();
  for (int i = 0; i < w->n; i++) json_object_array_add(arr, json_object_new_string(w->items[i]));
  return arr;
}

/* ---------- how busy the machine is ---------- */

typedef struct {
  unsigned long long busy[CPU_SETSIZE > 1024 ? 1024 : CPU_SETSIZE];
  unsigned long long total[CPU_SETSIZE > 1024 ? 1024 : CPU_SETSIZE];
  int n;
  double t;
} cpu_times_t;

typedef struct {
  double busy;   /* busy fraction of the other CPUs, 0..1; -1 when /proc/stat is unreadable */
  int runnable;  /* runnable tasks from /proc/loadavg, the runner itself not included */
  double window_s;
  int cpus;      /* how many CPUs the busy fraction covers */
} load_t;

static int read_cpu_times(cpu_times_t *ct) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[512];
  ct->n = 0;
  ct->t = now_s();
  while (fgets(line, sizeof line, f)) {
    int cpu;
    unsigned long long v[8] = {0};
    if (strncmp(line, "cpu", 3) != 0 || !isdigit((unsigned char)line[3])) continue;
    if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) < 5)
      continue;
    if (cpu < 0 || cpu >= (int)(sizeof ct->busy / sizeof ct->busy[0])) continue;
    unsigned long long total = 0;
    for (int i = 0; i < 8; i++) total += v[i];
    ct->total[cpu] = total;
    ct->busy[cpu] = total - v[3] - v[4]; /* minus idle and iowait */
    if (cpu + 1 > ct->n) ct->n = cpu + 1;
  }
  fclose(f);
  return ct->n > 0;
}

static int runnable_now(void) {
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return -1;
  double a, b, c;
  int running = -1, total = 0;
  if (fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) != 5) running = -1;
  fclose(f);
  return running > 0 ? running - 1 : running; /* the runner is running while it reads this */
}

/* Busy fraction of the CPUs other than `own` (all of them when `own` is the only one or -1)
 * between two snapshots. */
static load_t load_between(const cpu_times_t *a, const cpu_times_t *b, int own) {
  load_t l = {-1, runnable_now(), b->t - a->t, 0};
  for (int pass = 0; pass < 2 && l.cpus == 0; pass++) {
    unsigned long long busy = 0, total = 0;
    int cpus = 0;
    for (int i = 0; i < a->n && i < b->n; i++) {
      if (pass == 0 && i == own) continue;
      if (b->total[i] < a->total[i] || a->total[i] == 0) continue;
      busy += b->busy[i] - a->busy[i];
      total += b->total[i] - a->total[i];
      cpus++;
    }
    if (cpus == 0) continue;
    l.cpus = cpus;
    l.busy = total > 0 ? (double)busy / (double)total : 0;
  }
  return l;
}

static load_t load_over(double window_s, int own) {
  cpu_times_t a, b;
  if (!read_cpu_times(&a)) return (load_t){-1, runnable_now(), 0, 0};
  struct timespec ts = {(time_t)window_s, (long)((window_s - (double)(time_t)window_s) * 1e9)};
  nanosleep(&ts, NULL);
  if (!read_cpu_times(&b)) return (load_t){-1, runnable_now(), 0, 0};
  return load_between(&a, &b, own);
}

static json_object *load_json(load_t l) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "busy", l.busy >= 0 ? json_object_new_double(l.busy) : NULL);
  json_object_object_add(o, "runnable", l.runnable >= 0 ? json_object_new_int(l.runnable) : NULL);
  json_object_object_add(o, "window_s", json_object_new_double(l.window_s));
  json_object_object_add(o, "cpus", json_object_new_int(l.cpus));
  return o;
}

/* ---------- cache flushing ---------- */

static size_t parse_size(const char *s) {
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s) return 0;
  if (*end == 'K' || *end == 'k') v <<= 10;
  else if (*end == 'M' || *end == 'm') v <<= 20;
  else if (*end == 'G' || *end == 'g') v <<= 30;
  return (size_t)v;
}

/* The last-level cache of cpu0: sysfs first (the per-core view), then sysconf, then 32 MiB. */
static size_t llc_bytes(const char **source) {
  int best_level = 0;
  size_t best = 0;
  for (int i = 0; i < 16; i++) {
    char path[128], buf[64];
    int level = 0;
    size_t size = 0;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(buf, sizeof buf, f)) level = atoi(buf);
    fclose(f);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    f = fopen(path, "r");
    int instruction = 0;
    if (f) {
      if (fgets(buf, sizeof buf, f)) instruction = !strncmp(buf, "Instruction", 11);
      fclose(f);
    }
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    f = fopen(path, "r");
    if (f) {
      if (fgets(buf, sizeof buf, f)) size = parse_size(buf);
      fclose(f);
    }
    if (!instruction && size > 0 && level > best_level) {
      best_level = level;
      best = size;
    }
  }
  if (best > 0) {
    *source = "sysfs";
    return best;
  }
#ifdef _SC_LEVEL3_CACHE_SIZE
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) {
    *source = "sysconf";
    return (size_t)l3;
  }
#endif
  *source = "fallback";
  return DEFAULT_LLC_BYTES;
}

static volatile unsigned long long g_flush_sink;

/* Write, then read, the whole buffer: the kernel's data leaves every cache level. */
static void flush_caches(unsigned char *buf, size_t bytes) {
  static unsigned char k = 0;
  memset(buf, ++k, bytes);
  unsigned long long sum = 0;
  for (size_t i = 0; i < bytes; i += 64) sum += buf[i];
  g_flush_sink += sum;
}

/* ---------- probe ---------- */

static int run_probe(const options_t *opt) {
  counters_t c;
  warnings_t w = {.n = 0};
  counters_setup(&c, opt, &w);
  int passes = counters_n_passes(&c);
  long long raw[MAX_EVENTS + 1] = {0};
  for (int p = 0; p < passes; p++) {
    pass_start(&c, p);
    /* Some work for the hardware counters, fresh pages for page-faults, a sleep for
     * context-switches, and a known amount for the SDE counter. */
    volatile double sink = 0;
    for (int i = 0; i < 200000; i++) sink += (double)i * 0.5;
    size_t bytes = 1 << 20;
    unsigned char *fresh = malloc(bytes);
    if (fresh) {
      memset(fresh, 1, bytes);
      sink += fresh[bytes - 1];
      free(fresh);
    }
    usleep(1000);
    g_sde_macs += 12345;
    pass_stop(&c, p, raw, 1);
  }
  for (int i = 0; i < c.n_events; i++) c.events[i].raw = raw[i];
  perf_finish(&c);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "schema_version", json_object_new_int(RUNNER_SCHEMA_VERSION));
  add_papi_version(o, &c);
  if (!c.papi_ok) json_object_object_add(o, "message", json_object_new_string(c.papi_error));
  json_object_object_add(o, "events", counters_json(&c));
  int works = 0;
  json_object_object_add(o, "sde", sde_json(&c, 12345, &works));
  json_object_object_add(o, "sde_works", json_object_new_boolean(works));
  json_object_object_add(o, "passes", json_object_new_int(passes));
  json_object_object_add(o, "multiplexed", json_object_new_boolean(c.multiplexed));
  json_object_object_add(o, "multiplex_requested", json_object_new_boolean(opt->multiplex));
  json_object_object_add(o, "warnings", warnings_json(&w));
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

/* The cost of a clock_gettime(CLOCK_MONOTONIC) pair as seen by a sample: the median difference
 * of back-to-back readings, in ns. */
static long long clock_pair_overhead_ns(void) {
  enum { REPS = 1001 };
  static long long d[REPS];
  for (int i = 0; i < REPS; i++) {
    long long t0 = now_ns();
    long long t1 = now_ns();
    d[i] = t1 - t0;
  }
  qsort(d, REPS, sizeof d[0], cmp_ll);
  return d[REPS / 2];
}

static json_object *shape_json(int M, int K, int N) {
  json_object *shape = json_object_new_object();
  json_object_object_add(shape, "m", json_object_new_int(M));
  json_object_object_add(shape, "k", json_object_new_int(K));
  json_object_object_add(shape, "n", json_object_new_int(N));
  return shape;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  options_t opt;
  if (!parse_options(argc, argv, &opt)) return usage("bad arguments");

  /* A kernel with the threads knob T > 1 (blk_threads.h) runs on T CPUs: --cpu C pins the
   * process to C, C - 1, ..., C - T + 1 (wrapping around the online CPUs), and its workers
   * inherit that set. */
  const int threads = &blk_kernel_threads != NULL && blk_kernel_threads > 1 ? blk_kernel_threads : 1;
  int pinned = 0;
  if (opt.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    for (int t = 0; t < threads && t < online; t++) CPU_SET((int)((opt.cpu - t + online * 64) % online), &set);
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
  const int correct = finite && max_err <= tol;
  char wrong_msg[256];
  snprintf(wrong_msg, sizeof wrong_msg,
           finite ? "max |Y - Y_ref| = %.3g exceeds the tolerance %.3g"
                  : "the kernel produced non-finite values (max err %.3g, tol %.3g)",
           max_err, tol);

  /* Simulation: no PAPI, no perf, no idle check, no json-c (its hash tables are seeded at
   * random, which would make instruction counts differ from run to run): exactly opt.simulate
   * more calls, then a JSON object printed by hand. */
  if (opt.simulate >= 0) {
    long long macs = 0;
    if (correct)
      for (long long i = 0; i < opt.simulate; i++) macs += blk_kernel(packed, X, Y);
    printf("{\"schema_version\":%d,\"outcome\":\"%s\",", RUNNER_SCHEMA_VERSION,
           correct ? "measured" : "wrongResult");
    if (!correct) printf("\"message\":\"%s\",", wrong_msg); /* no quotes or backslashes in it */
    printf("\"mode\":\"simulate\",\"simulate_calls\":%lld,\"simulate_macs\":%lld,", correct ? opt.simulate : 0,
           macs);
    if (finite) printf("\"max_abs_err\":%.17g,", max_err);
    else printf("\"max_abs_err\":null,");
    printf("\"tolerance\":%.17g,\"macs_per_call\":%lld,\"samples_s\":[],\"calls_counted\":0,"
           "\"counters\":[],\"shape\":{\"m\":%d,\"k\":%d,\"n\":%d},\"seed\":%llu}\n",
           tol, macs_per_call, M, K, N, opt.seed);
    fflush(stdout);
    blk_free(packed);
    return 0;
  }

  json_object *o = NULL;
  json_object *samples = json_object_new_array();
  warnings_t warnings = {.n = 0};
  counters_t c;
  counters_setup(&c, &opt, &warnings);
  if (opt.cpu >= 0 && !pinned) warn(&warnings, "could not pin to CPU %d: %s", opt.cpu, strerror(errno));
  if (threads > 1)
    warn(&warnings, "kernel runs on %d threads: the hardware and perf counters count the calling thread only",
         threads);
  long long calls_counted = 0, inner = 0;

  if (!correct) {
    o = base_object("wrongResult");
    json_object_object_add(o, "message", json_object_new_string(wrong_msg));
  } else {
    const int own_cpu = pinned && threads == 1 ? opt.cpu : -1;
    /* Is the machine quiet enough? */
    const double window = (double)opt.idle_window_ms * 1e-3;
    const double wait_start = now_s();
    load_t before = load_over(window, own_cpu);
    while (before.busy >= opt.idle_threshold && now_s() - wait_start + window <= opt.wait_idle_s)
      before = load_over(window, own_cpu);
    double waited = now_s() - wait_start - before.window_s;
    if (before.busy >= opt.idle_threshold)
      warn(&warnings, "machine busy: %.0f%% of the other %d CPU(s) busy over %.2f s%s, %d other runnable task(s) "
           "(threshold %.0f%%)", 100 * before.busy, before.cpus, before.window_s,
           opt.wait_idle_s > 0 ? " after waiting" : "", before.runnable, 100 * opt.idle_threshold);

    /* Cold caches: one call per sample after a flush of 2x the last-level cache. */
    const char *llc_source = "none";
    size_t flush_bytes = 0;
    unsigned char *flush_buf = NULL;
    if (opt.flush) {
      size_t llc = llc_bytes(&llc_source);
      flush_bytes = 2 * llc;
      if (flush_bytes > ((size_t)1 << 30)) flush_bytes = (size_t)1 << 30;
      flush_buf = alloc_aligned(flush_bytes);
      if (!flush_buf) {
        warn(&warnings, "cannot allocate %zu bytes to flush the caches: measuring warm", flush_bytes);
        flush_bytes = 0;
      } else {
        flush_caches(flush_buf, flush_bytes); /* its pages are faulted in before any counting */
      }
    }
    const int cold = flush_buf != NULL;

    /* Warm-up and calibration: double `inner` until one sample lasts >= min-sample-us (one call
     * per sample when cold). */
    const double min_sample = (double)opt.min_sample_us * 1e-6;
    inner = 1;
    for (; !cold;) {
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

    /* Overheads: the clock pair, and each counter's start/stop pair in every pass. */
    const long long clock_ns = clock_pair_overhead_ns();
    const int passes = counters_n_passes(&c);
    for (int p = 0; p < passes; p++)
      if (pass_has_events(&c, p)) measure_overhead(&c, p);

    stats_rule_t rule = stats_default_rule();
    rule.min_repeats = opt.min_repeats;
    rule.max_repeats = opt.max_repeats;
    rule.max_time_s = opt.max_time_s;
    rule.min_time_s = opt.min_time_s;
    rule.ci_fraction = opt.ci_fraction;
    rule.seed = opt.seed;
    double *samp = malloc(sizeof(double) * (size_t)opt.max_repeats);
    if (!samp) return fail("out of memory");
    long long raw[MAX_EVENTS + 1] = {0};
    int n = 0;
    stats_decision_t decision = STATS_CONTINUE;
    double ci_lo = 0, ci_hi = 0;
    cpu_times_t during0, during1;
    int have_during = read_cpu_times(&during0);

    /* Pass 0: samples until the stopping rule says stop. The counters are paused while the rule
     * computes its CI and while the caches are flushed. */
    int running = 0;
    const double start = now_s();
    while (decision == STATS_CONTINUE) {
      if (cold) flush_caches(flush_buf, flush_bytes);
      if (!running) {
        pass_start(&c, 0);
        running = 1;
        c.segments[0]++;
      }
      long long t0 = now_ns();
      for (long long i = 0; i < inner; i++) g_sde_macs += blk_kernel(packed, X, Y);
      long long t1 = now_ns();
      long long dt = t1 - t0 - clock_ns;
      samp[n++] = (double)(dt > 0 ? dt : 0) * 1e-9 / (double)inner;
      c.pass_seconds[0] += (double)(t1 - t0) * 1e-9;
      calls_counted += inner;
      /* One reading of the clock for both: whether the rule computes its CI (counters paused)
       * and the decision itself. */
      const double elapsed = now_s() - start;
      if (cold || stats_ci_due(&rule, n, elapsed)) {
        pass_stop(&c, 0, raw, 1);
        running = 0;
      }
      decision = stats_decide(&rule, samp, n, elapsed, &ci_lo, &ci_hi);
    }
    if (running) pass_stop(&c, 0, raw, 1);
    const double sampling_s = now_s() - start;
    c.pass_calls[0] = calls_counted;

    /* Passes 1..: the same samples again (same number of calls), each with its own counters. */
    for (int p = 1; p < passes; p++) {
      if (!pass_has_events(&c, p)) continue;
      running = 0;
      for (int k = 0; k < n; k++) {
        if (cold) flush_caches(flush_buf, flush_bytes);
        if (!running) {
          pass_start(&c, p);
          running = 1;
          c.segments[p]++;
        }
        long long t0 = now_ns();
        for (long long i = 0; i < inner; i++) g_sde_macs += blk_kernel(packed, X, Y);
        long long t1 = now_ns();
        c.pass_seconds[p] += (double)(t1 - t0) * 1e-9;
        c.pass_calls[p] += inner;
        if (cold) {
          pass_stop(&c, p, raw, 1);
          running = 0;
        }
      }
      if (running) pass_stop(&c, p, raw, 1);
    }
    for (int i = 0; i < c.n_events; i++) c.events[i].raw = raw[i];
    perf_finish(&c);
    load_t after = {-1, runnable_now(), 0, 0};
    if (have_during && read_cpu_times(&during1)) after = load_between(&during0, &during1, own_cpu);
    if (after.busy >= opt.idle_threshold)
      warn(&warnings, "machine busy during the measurement: %.0f%% of the other %d CPU(s) busy over %.2f s, "
           "%d other runnable task(s)", 100 * after.busy, after.cpus, after.window_s, after.runnable);

    /* The runner's final CI (also when the rule stopped for another reason). */
    stats_bootstrap_median_ci(samp, n, rule.resamples, rule.confidence, rule.seed, &ci_lo, &ci_hi);
    const double median = stats_median(samp, n);
    for (int k = 0; k < n; k++) json_object_array_add(samples, json_object_new_double(samp[k]));

    o = base_object("measured");
    json_object_object_add(o, "stop_reason", json_object_new_string(stats_decision_name(decision)));
    json_object_object_add(o, "ci_low_s", json_object_new_double(ci_lo));
    json_object_object_add(o, "ci_high_s", json_object_new_double(ci_hi));
    json_object_object_add(o, "ci_relative_width",
                           json_object_new_double(median > 0 ? (ci_hi - ci_lo) / median : 0));
    json_object_object_add(o, "ci_fraction", json_object_new_double(opt.ci_fraction));
    json_object_object_add(o, "ci_confidence", json_object_new_double(rule.confidence));
    json_object_object_add(o, "max_time_s", json_object_new_double(opt.max_time_s));
    json_object_object_add(o, "min_time_s", json_object_new_double(opt.min_time_s));
    json_object_object_add(o, "sampling_s", json_object_new_double(sampling_s));
    json_object *st = json_object_new_object();
    json_object_object_add(st, "min_s", json_object_new_double(stats_min(samp, n)));
    json_object_object_add(st, "median_s", json_object_new_double(median));
    json_object_object_add(st, "mad_s", json_object_new_double(stats_mad(samp, n)));
    json_object_object_add(st, "p90_s", json_object_new_double(stats_quantile(samp, n, 0.9)));
    json_object_object_add(o, "stats", st);
    json_object_object_add(o, "clock_overhead_s", json_object_new_double((double)clock_ns * 1e-9));
    json_object_object_add(o, "cache_mode", json_object_new_string(cold ? "cold" : "warm"));
    if (cold) {
      json_object_object_add(o, "flush_bytes", json_object_new_int64((long long)flush_bytes));
      json_object_object_add(o, "flush_llc_source", json_object_new_string(llc_source));
    }
    json_object_object_add(o, "load_before", load_json(before));
    json_object_object_add(o, "load_after", load_json(after));
    json_object_object_add(o, "waited_s", json_object_new_double(waited > 0 ? waited : 0));
    json_object *pa = json_object_new_array();
    for (int p = 0; p < passes; p++) {
      if (p > 0 && !pass_has_events(&c, p)) continue;
      json_object *po = json_object_new_object();
      json_object_object_add(po, "index", json_object_new_int(p));
      json_object_object_add(po, "calls", json_object_new_int64(c.pass_calls[p]));
      json_object_object_add(po, "seconds", json_object_new_double(c.pass_seconds[p]));
      json_object_object_add(po, "segments", json_object_new_int64(c.segments[p]));
      json_object_array_add(pa, po);
    }
    json_object_object_add(o, "passes", pa);
    free(samp);
    free(flush_buf);
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
  json_object_object_add(o, "multiplexed", json_object_new_boolean(c.multiplexed));
  json_object_object_add(o, "multiplex_requested", json_object_new_boolean(opt.multiplex));
  json_object_object_add(o, "warnings", warnings_json(&warnings));
  add_papi_version(o, &c);
  json_object_object_add(o, "cpu", opt.cpu >= 0 && pinned ? json_object_new_int(opt.cpu) : NULL);
  json_object_object_add(o, "pinned", json_object_new_boolean(pinned));
  json_object_object_add(o, "threads", json_object_new_int(threads));
  json_object_object_add(o, "shape", shape_json(M, K, N));
  json_object_object_add(o, "seed", json_object_new_int64((long long)opt.seed));
  print_json(o);
  json_object_put(o);
  blk_free(packed);
  return 0;
}
