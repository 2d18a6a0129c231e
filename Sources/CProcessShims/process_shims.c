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
