#if canImport(Glibc)
    import Glibc

    extension LogShipper {
        /// Request bodies (about 1 MiB each) live in mappings of their own, so the memory of a body the shipper
        /// lets go of goes back to the system.
        ///
        /// glibc serves blocks of 128 KiB and more with `mmap`, but raises that threshold to the largest block freed
        /// so far (up to 32 MiB): after the first body is freed, later ones come from a heap arena, and freed arena
        /// memory stays resident (measured: 8–10 MiB of free arena memory kept after a 1 GiB backlog). A fixed
        /// threshold turns that adjustment off (mallopt(3), `M_MMAP_THRESHOLD`). The shipper reuses its bodies
        /// (`BodyPool`), so this costs no `mmap` per batch; it affects only blocks of 256 KiB and more, which the
        /// agent allocates nowhere on a hot path besides these bodies.
        ///
        /// Swift's Glibc module does not export `<malloc.h>`, so `mallopt` is looked up by name; `M_MMAP_THRESHOLD`
        /// is -3 in glibc's `<malloc.h>`.
        static let mappedBodies: Bool = {
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(nil, "mallopt") else { return false }
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            return mallopt(-3, 256 * 1024) == 1
        }()
    }
#else
    extension LogShipper {
        /// Nothing to adjust outside glibc.
        static let mappedBodies = true
    }
#endif
