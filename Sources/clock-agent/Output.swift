#if canImport(Glibc)
    import Glibc
#endif

/// Writes a line to stderr.
func printError(_ text: String) {
    var line = Array((text + "\n").utf8)
    line.withUnsafeMutableBytes { buffer in
        _ = write(2, buffer.baseAddress, buffer.count)
    }
}
