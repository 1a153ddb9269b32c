#define _GNU_SOURCE
#include "CSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// Reports a failed stage and errno to the parent through the status pipe, then exits the child.
static void child_fail(int pipe_fd, int stage) {
    int report[2] = {stage, errno};
    ssize_t ignored = write(pipe_fd, report, sizeof(report));
    (void)ignored;
    _exit(127);
}

/// Closes every descriptor from `lowest` up, except `keep`.
static void close_from(int lowest, int keep) {
#ifdef SYS_close_range
    if (keep < lowest) {
        if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
    } else {
        int ok = 1;
        if (keep > lowest && syscall(SYS_close_range, (unsigned)lowest, (unsigned)(keep - 1), 0) != 0) ok = 0;
        if (ok && syscall(SYS_close_range, (unsigned)(keep + 1), ~0U, 0) == 0) return;
    }
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = lowest; fd < max; fd++) {
        if (fd != keep) close(fd);
    }
}

/// Moves `fd` to a number of at least 3 so that dup2 onto 0–2 can't clobber another source descriptor.
static int lift(int fd) {
    if (fd < 0 || fd > 2) return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int clock_spawn(const clock_spawn_attributes *attributes, pid_t *pid, int *stage, int *error) {
    int status_pipe[2];
    *stage = CLOCK_SPAWN_OK;
    *error = 0;
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        *stage = CLOCK_SPAWN_PIPE;
        *error = errno;
        return -1;
    }

    pid_t child = fork();
    if (child < 0) {
        *stage = CLOCK_SPAWN_FORK;
        *error = errno;
        close(status_pipe[0]);
        close(status_pipe[1]);
        return -1;
    }

    if (child == 0) {
        // Child: async-signal-safe calls only from here to exec.
        int report = status_pipe[1];
        close(status_pipe[0]);

        // Default dispositions first, then unblock: a signal arriving in between must not run a handler inherited
        // from the agent (libdispatch's forwards it to a thread the child doesn't have, and it would be lost).
        struct sigaction defaults;
        memset(&defaults, 0, sizeof(defaults));
        defaults.sa_handler = SIG_DFL;
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            if (signal_number == SIGKILL || signal_number == SIGSTOP) continue;
            sigaction(signal_number, &defaults, NULL);
        }
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);

        if (attributes->new_session && setsid() < 0) child_fail(report, CLOCK_SPAWN_SETSID);

        int sources[3] = {attributes->stdin_fd, attributes->stdout_fd, attributes->stderr_fd};
        for (int i = 0; i < 3; i++) {
            if (sources[i] < 0) {
                sources[i] = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
                if (sources[i] < 0) child_fail(report, CLOCK_SPAWN_DUP);
            }
            sources[i] = lift(sources[i]);
            if (sources[i] < 0) child_fail(report, CLOCK_SPAWN_DUP);
        }
        for (int i = 0; i < 3; i++) {
            if (dup2(sources[i], i) < 0) child_fail(report, CLOCK_SPAWN_DUP);
        }
        if (report <= 2) {
            report = fcntl(report, F_DUPFD_CLOEXEC, 3);
            if (report < 0) _exit(127);
        }
        close_from(3, report);

        if (attributes->directory && chdir(attributes->directory) != 0) child_fail(report, CLOCK_SPAWN_CHDIR);

        if (attributes->reset_open_files) {
            struct rlimit limit;
            if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != attributes->open_files_soft) {
                limit.rlim_cur = attributes->open_files_soft;
                // Best effort: the app still starts if the limit can't be lowered.
                (void)setrlimit(RLIMIT_NOFILE, &limit);
            }
        }

        if (attributes->drop_privileges) {
            if (setgroups(0, NULL) != 0) child_fail(report, CLOCK_SPAWN_SETGROUPS);
            if (setgid(attributes->gid) != 0) child_fail(report, CLOCK_SPAWN_SETGID);
            if (setuid(attributes->uid) != 0) child_fail(report, CLOCK_SPAWN_SETUID);
        }

        execve(attributes->path, attributes->argv, attributes->envp);
        child_fail(report, CLOCK_SPAWN_EXEC);
    }

    // Parent: an empty read means exec succeeded (the pipe closed on exec).
    close(status_pipe[1]);
    int report[2] = {0, 0};
    ssize_t got;
    do {
        got = read(status_pipe[0], report, sizeof(report));
    } while (got < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (got == (ssize_t)sizeof(report)) {
        int ignored;
        while (waitpid(child, &ignored, 0) < 0 && errno == EINTR) {
        }
        *stage = report[0];
        *error = report[1];
        return -1;
    }
    *pid = child;
    return 0;
}
