import AWSCore
import AgentConfig
@testable import Bootstrap
import Foundation
import TestSupport
import Testing

/// Unpacking and hashing the artifact are long blocking disk work: they run on threads of their own, and the
/// calling task's executor (the cooperative pool in the agent) stays free. Each test compares the CPU time the
/// executor's thread spends with the same work done inline on it, so the machine's speed does not matter.
@Suite(.timeLimit(.minutes(2)))
struct OffThePoolTests {
    /// A `.tar.gz` holding 64 MiB of zeros (small to store, real work to unpack), and the same data as a plain file.
    /// (Made on a thread of its own, like the work under test.)
    static func bigArtifact(in directory: TemporaryDirectory) async throws -> (archive: String, file: String) {
        let source = directory.file("src")
        let file = source + "/zeros.bin"
        let archive = directory.file("big.tar.gz")
        try await DedicatedThread.run {
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: file, contents: Data(count: 64 << 20))
            try Command.run(["/usr/bin/tar", "-czf", archive, "-C", source, "."], timeout: 60)
        }
        return (archive, file)
    }

    /// CPU time the executor's thread used while `body` ran in a task preferring it.
    static func executorCPU<T: Sendable>(
        _ executor: SingleThreadExecutor, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> Duration {
        let before = executor.cpuTime
        _ = try await Task(executorPreference: executor) { try await body() }.value
        return executor.cpuTime - before
    }

    @Test func unpackingARelease() async throws {
        let directory = try TemporaryDirectory()
        let (archive, _) = try await Self.bigArtifact(in: directory)
        let executor = SingleThreadExecutor()
        defer { executor.shutdown() }
        let installer = ReleaseInstaller(installDirectory: directory.file("install"), logger: LogCapture().logger())
        let inline = try await Self.executorCPU(executor) {
            try installer.install(
                VerifiedArtifact(path: archive, sha256: String(repeating: "1", count: 64), size: 0), isArchive: true,
                fileName: "big.tar.gz")
        }
        let handedOff = try await Self.executorCPU(executor) {
            try await installer.installRelease(
                VerifiedArtifact(path: archive, sha256: String(repeating: "2", count: 64), size: 0), isArchive: true,
                fileName: "big.tar.gz")
        }
        #expect(handedOff * 5 < inline, "installRelease used \(handedOff) of the caller's thread; inline: \(inline)")
    }

    @Test func hashingTheDownload() async throws {
        let directory = try TemporaryDirectory()
        let (_, file) = try await Self.bigArtifact(in: directory)
        let executor = SingleThreadExecutor()
        defer { executor.shutdown() }
        let inline = try await Self.executorCPU(executor) { try FileIO.sha256(of: file) }
        let fetcher = ArtifactFetcher(s3: nil, downloads: directory.file("downloads"), logger: LogCapture().logger())
        let handedOff = try await Self.executorCPU(executor) {
            try await fetcher.fetch(
                .file(path: file), pinned: nil, head: nil, deadline: .now.advanced(by: .seconds(60)))
        }
        #expect(handedOff * 5 < inline, "fetch used \(handedOff) of the caller's thread; hashing inline: \(inline)")
    }
}
