/// Extracts a gzip-compressed tar archive into `directory` (which exists and is empty), refusing anything unsafe.
///
/// This is how a release artifact (`.tar.gz`/`.tgz`) becomes `releases/<sha256>/`. The archive is streamed — zlib
/// output goes through one 1 MiB buffer straight to `write(2)`, never the whole archive in memory — and read as
/// POSIX ustar, PAX (`x` headers: `path`, `linkpath`, `size`, `mtime`; `g` ignored) or GNU (`L`/`K` long names,
/// base-256 numbers). Header checksums are verified, and so is each gzip member's CRC-32.
///
/// Refused, with a `TarError` naming the entry and the reason: absolute names, `..` components, empty names and
/// NUL bytes; anything written through a symlink; symlinks that are absolute or resolve outside the directory;
/// hard links to anything but a regular file extracted earlier; devices, FIFOs and other types; an entry whose
/// name was already extracted (except a directory listed twice); archives over `TarLimits`; truncated archives,
/// bad checksums and corrupt gzip data. Nothing extracted is readable by others (DESIGN.md: files the agent creates
/// are not world-readable): regular files are 0640, or 0750 when the archive makes them executable; directories are
/// 0750. Nothing is chowned: the installer decides ownership (the app's group reads the release). Modification
/// times are restored.
public enum TarArchive {
    /// Extracts; returns what was written. Throws `TarError` naming the entry and the problem.
    ///
    /// On error, `directory` may hold part of the archive: the caller deletes it (the release only becomes visible
    /// through `current` after a complete extraction). No file descriptor stays open either way. This blocks on disk
    /// I/O for as long as the archive takes, so call it off the Swift concurrency cooperative pool.
    public static func extract(
        gzipFile path: String, into directory: String, limits: TarLimits = .default
    ) throws -> TarExtractionSummary {
        let target = try TarDirectory(path: directory)
        let gzip = try GzipReader(path: path)
        let extractor = TarExtractor(input: TarInput(gzip: gzip), directory: target, limits: limits)
        return try extractor.run()
    }
}
