#ifndef CLOCK_AGENT_CLINUX_H
#define CLOCK_AGENT_CLINUX_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/// Wraps `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`: a counter descriptor other threads write to wake a `poll`.
/// Glibc's `<sys/eventfd.h>` is not part of Swift's Glibc module, so the call and its flags are reached here.
static inline int CLinux_wake_descriptor(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/// Wraps `fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)`: frees the disk blocks of a
/// byte range without changing the file's size or other offsets (the range then reads as zeros). `fallocate`
/// and its flags need `_GNU_SOURCE`, which Swift's Glibc module doesn't define.
static inline int CLinux_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

/// Wraps `prctl(PR_SET_NAME, name)`: names the calling thread (at most 15 bytes are kept) for `top -H`, `ps -L` and
/// perf. `prctl` is variadic, which Swift cannot call.
static inline int CLinux_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#endif
