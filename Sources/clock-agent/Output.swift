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

/// Makes writing to a closed pipe or socket an `EPIPE` error instead of the end of the process.
///
/// systemd does this for its services (`IgnoreSIGPIPE=yes`, the default, see systemd.exec(5)); doing it here too
/// makes the agent behave the same when it runs elsewhere (a terminal piped into `tee`, a container, the tests):
/// a reader that goes away must not kill the agent before it has stopped the app and drained. libcurl leaves
/// `SIGPIPE` to the application because the transport sets `CURLOPT_NOSIGNAL`
/// (https://curl.se/libcurl/c/CURLOPT_NOSIGNAL.html). The app does not inherit this: the supervisor resets every
/// signal to its default before exec.
func ignoreBrokenPipes() {
    _ = signal(SIGPIPE, SIG_IGN)
}
