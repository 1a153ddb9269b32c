/*
 * Keeps the release binary loadable on Amazon Linux 2023 (glibc 2.34, libstdc++ of GCC 11) although it is linked on
 * Debian 12 (glibc 2.36, libstdc++ of GCC 12).
 *
 * Three symbols that the static Swift runtime and the libraries it may link reference have a newer *default* version on
 * the build machine than AL2023 provides, so a plain link records that newer version and the loader refuses the binary
 * there:
 *
 * - hypot, hypotf -> GLIBC_2.35. glibc 2.35 added these versions only to drop the SVID `matherr` error path; the
 *   result is the same as GLIBC_2.2.5's. Referenced by the Glibc overlay (hypotf); the agent never calls them.
 * - std::condition_variable::wait(std::unique_lock<std::mutex>&) -> GLIBCXX_3.4.30. GCC 12 added it only to change
 *   whether pthread_cancel can unwind through the wait (the agent never cancels threads); GLIBCXX_3.4.11 has been in
 *   every libstdc++ since GCC 4.4. Referenced by ICU, which the binary no longer links (it uses FoundationEssentials,
 *   not Foundation); kept so that a dependency bringing it back cannot make the binary unloadable on AL2023.
 *
 * packaging/build-release links this object with `-Xlinker --wrap=<symbol>` for each of them: every reference then
 * goes to `__wrap_<symbol>` below, which calls the old version looked up by name and version with dlvsym(3) on first
 * use. (A `.symver` reference to the old version does not work here: the linker wraps that reference too, which
 * makes the wrapper call itself.) Tests/packaging/test_release_binary.py fails on any GLIBC > 2.34 or
 * GLIBCXX > 3.4.29 in the binary's version references.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/// The versioned definition of `name`, or abort with a message (it exists in every glibc/libstdc++ the binary
/// can load with, so this can only fail on a broken system).
static void *clock_compat_resolve(const char *name, const char *version) {
    void *address = dlvsym(RTLD_DEFAULT, name, version);
    if (address == NULL) {
        fprintf(stderr, "clock-agent: %s@%s not found: %s\n", name, version, dlerror());
        abort();
    }
    return address;
}

typedef double (*clock_compat_hypot_t)(double, double);
typedef float (*clock_compat_hypotf_t)(float, float);
typedef void (*clock_compat_wait_t)(void *, void *);

/// hypot -> hypot@GLIBC_2.2.5.
double __wrap_hypot(double x, double y) {
    static clock_compat_hypot_t function;
    clock_compat_hypot_t f = __atomic_load_n(&function, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (clock_compat_hypot_t)clock_compat_resolve("hypot", "GLIBC_2.2.5");
        __atomic_store_n(&function, f, __ATOMIC_RELEASE);
    }
    return f(x, y);
}

/// hypotf -> hypotf@GLIBC_2.2.5.
float __wrap_hypotf(float x, float y) {
    static clock_compat_hypotf_t function;
    clock_compat_hypotf_t f = __atomic_load_n(&function, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (clock_compat_hypotf_t)clock_compat_resolve("hypotf", "GLIBC_2.2.5");
        __atomic_store_n(&function, f, __ATOMIC_RELEASE);
    }
    return f(x, y);
}

/// std::condition_variable::wait(std::unique_lock<std::mutex>&) -> its GLIBCXX_3.4.11 version (a member function:
/// `this` comes first).
void __wrap__ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE(void *condition, void *lock) {
    static clock_compat_wait_t function;
    clock_compat_wait_t f = __atomic_load_n(&function, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (clock_compat_wait_t)clock_compat_resolve(
            "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE", "GLIBCXX_3.4.11");
        __atomic_store_n(&function, f, __ATOMIC_RELEASE);
    }
    f(condition, lock);
}
