import AWSCore
import AgentConfig

/// Remembers which S3 object (source and ETag) the installed release came from, so a reboot with the same
/// artifact re-uses the release without downloading it again, even without a pinned SHA-256.
struct ArtifactRecord {
    let path: String

    /// The release of this exact object, if it was installed from it before.
    func installedRelease(for source: ArtifactSource, head: ArtifactHead, pinned: String?) -> String? {
        if let pinned, head.sha256 == pinned { return pinned }
        if pinned == nil, let sha = head.sha256 { return sha }
        guard let text = FileIO.readText(path) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[0] == source.description, let etag = head.etag, lines[1] == etag else {
            return nil
        }
        let sha = lines[2]
        if let pinned, sha != pinned { return nil }
        return sha
    }

    /// Records the object an installed release came from.
    ///
    /// The atomic write (temp file, fsync, rename) happens on a thread of its own and nothing waits for it: the
    /// record only spares a download at the next start, so losing it to a crash costs no more than that.
    func save(source: ArtifactSource, etag: String?, sha256: String) {
        guard let etag else { return }
        let path = path
        let text = "\(source)\n\(etag)\n\(sha256)\n"
        DedicatedThread.start { try? FileIO.writeAtomically(path, text) }
    }
}
