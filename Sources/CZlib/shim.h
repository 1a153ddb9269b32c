#ifndef CLOCK_AGENT_CZLIB_SHIM_H
#define CLOCK_AGENT_CZLIB_SHIM_H

#include <zlib.h>

/// Wraps the `deflateInit2` macro, which Swift cannot import (C function-like macros are not imported).
/// It passes zlib's version and stream size the way the macro does.
static inline int CZlib_deflateInit2(z_streamp stream, int level, int method, int windowBits, int memLevel,
                                     int strategy) {
    return deflateInit2(stream, level, method, windowBits, memLevel, strategy);
}

/// Wraps the `inflateInit2` macro for the same reason (used to read gzip bodies back in tests and fakes).
static inline int CZlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
