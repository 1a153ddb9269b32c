#ifndef CLOCK_AGENT_CSPAWN_H
#define CLOCK_AGENT_CSPAWN_H

#include <sys/resource.h>
#include <sys/types.h>

/// What `clock_spawn` does between fork and exec. Every pointer must stay valid during the call only.
typedef struct clock_spawn_attributes {
    /// The program path (absolute, or resolved by the caller) and NULL-terminated argv/envp.
    const char *path;
    char *const *argv;
    char *const *envp;
    /// The working directory, or NULL to keep the agent's.
    const char *directory;
    /// Descriptors that become the child's 0, 1 and 2 (-1: /dev/null).
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Run as this user and group (with no supplementary groups) when `drop_privileges` is non-zero.
    int drop_privileges;
    uid_t uid;
    gid_t gid;
    /// Put the child in a new session (and so a new process group whose id is its pid).
    int new_session;
    /// When non-zero, the child's soft limit on open descriptors (RLIMIT_NOFILE) is set to `open_files_soft` before
    /// exec: the agent may have raised its own for the files it tails, and the app should start with the limit the
    /// agent was given.
    int reset_open_files;
    rlim_t open_files_soft;
} clock_spawn_attributes;

/// Where a spawn failed, reported back from the child before exec.
typedef enum clock_spawn_stage {
    CLOCK_SPAWN_OK = 0,
    CLOCK_SPAWN_FORK = 1,
    CLOCK_SPAWN_SETSID = 2,
    CLOCK_SPAWN_DUP = 3,
    CLOCK_SPAWN_CHDIR = 4,
    CLOCK_SPAWN_SETGROUPS = 5,
    CLOCK_SPAWN_SETGID = 6,
    CLOCK_SPAWN_SETUID = 7,
    CLOCK_SPAWN_EXEC = 8,
    CLOCK_SPAWN_PIPE = 9,
} clock_spawn_stage;

/// Starts a child process without a shell: fork, then in the child reset the signal mask and every signal
/// disposition to the default (the agent's threads block signals the app must receive), start a new session,
/// set up descriptors 0–2, close every other descriptor, change directory, restore the soft open-file limit, drop to
/// `uid`/`gid` with no supplementary groups, and exec. Only async-signal-safe calls run between fork and exec.
///
/// Returns 0 and sets `*pid` on success. On failure returns -1 and sets `*stage` (a `clock_spawn_stage`) and
/// `*error` (an errno): a failure inside the child (e.g. exec of a missing program) is reported through a
/// close-on-exec pipe, so the caller learns it synchronously and the child has already exited (and been reaped).
int clock_spawn(const clock_spawn_attributes *attributes, pid_t *pid, int *stage, int *error);

#endif
