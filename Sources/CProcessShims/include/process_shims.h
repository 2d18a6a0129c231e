// Linux calls that Glibc's Swift overlay does not import (variadic or _np functions).
#ifndef BLKREW_PROCESS_SHIMS_H
#define BLKREW_PROCESS_SHIMS_H
#include <spawn.h>

/// prctl(PR_SET_PDEATHSIG, sig): deliver `sig` to this process when its parent dies.
int blk_set_parent_death_signal(int sig);
/// posix_spawn_file_actions_addchdir_np (glibc >= 2.29); returns ENOSYS where missing.
int blk_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
#endif

#ifndef BLKREW_INTERRUPTS
#define BLKREW_INTERRUPTS
/// Installs SIGINT and SIGTERM handlers that only count the signals (async-signal-safe), so a
/// sweep can drain on the first and stop on the second whatever thread receives them.
void blk_install_interrupt_counter(void);
/// Signals counted since the handlers were installed.
int blk_interrupt_count(void);
#endif
