#define _GNU_SOURCE
#include "process_shims.h"
#include <errno.h>
#include <sys/prctl.h>

int blk_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

int blk_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
  return posix_spawn_file_actions_addchdir_np(actions, path);
#else
  (void)actions; (void)path;
  return ENOSYS;
#endif
}

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t blk_interrupts = 0;

static void blk_count_interrupt(int sig) {
  (void)sig;
  blk_interrupts = blk_interrupts + 1;
}

void blk_install_interrupt_counter(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = blk_count_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int blk_interrupt_count(void) { return (int)blk_interrupts; }
