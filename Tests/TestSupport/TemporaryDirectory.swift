import Foundation

/// A directory for one test, removed with everything in it when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The absolute path.
    public let path: String

    /// Creates a fresh, owner-only directory under the system's temporary directory.
    public init(prefix: String = "clock-agent-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = "\(base)/\(prefix)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
