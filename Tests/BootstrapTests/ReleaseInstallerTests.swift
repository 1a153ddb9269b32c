import AWSCore
@testable import Bootstrap
import Foundation
@testable import Supervisor
import TestSupport
import Testing

/// `ReleaseInstaller`: what a release looks like on disk, and what a fresh unpack means for prepare.
@Suite(.timeLimit(.minutes(1)))
struct ReleaseInstallerTests {
    static let sha = String(repeating: "a1", count: 32)

    /// An app tree with an executable, a plain file, a read-only file and a world-writable directory, as `.tar.gz`
    /// (made on a thread of its own: `tar` must not hold up the other tests' tasks).
    static func archive(in directory: TemporaryDirectory) async throws -> VerifiedArtifact {
        let source = directory.file("src")
        let path = directory.file("app.tar.gz")
        try await DedicatedThread.run {
            try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
            for (name, mode) in [("run.sh", 0o755), ("data.txt", 0o644), ("sub/ro.txt", 0o444)] {
                _ = FileManager.default.createFile(atPath: source + "/" + name, contents: Data("\(name)\n".utf8))
                chmod(source + "/" + name, mode_t(mode))
            }
            chmod(source + "/sub", 0o777)
            chmod(source, 0o755)
            try Command.run(["/usr/bin/tar", "-czf", path, "-C", source, "."], timeout: 30)
        }
        return VerifiedArtifact(path: path, sha256: sha, size: 0, etag: nil)
    }

    static func installer(_ directory: TemporaryDirectory, group: gid_t?) -> ReleaseInstaller {
        ReleaseInstaller(
            installDirectory: directory.file("install"), preparedMarkers: directory.file("prepared"), group: group,
            logger: LogCapture().logger())
    }

    /// Every entry of a tree with its `lstat`.
    static func tree(_ root: String) -> [(path: String, info: stat)] {
        var result: [(String, stat)] = []
        var info = stat()
        guard lstat(root, &info) == 0 else { return [] }
        result.append((root, info))
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                result += tree(root + "/" + name)
            }
        }
        return result
    }

    @Test func aReleaseIsNotWorldReadableAndBelongsToTheAppGroup() async throws {
        let directory = try TemporaryDirectory()
        let artifact = try await Self.archive(in: directory)
        let group: gid_t? = getuid() == 0 ? 65534 : nil
        let release = try await Self.installer(directory, group: group).installRelease(
            artifact, isArchive: true, fileName: "app.tar.gz")
        let entries = Self.tree(release)
        #expect(entries.count == 5)
        for (path, info) in entries {
            let mode = info.st_mode & 0o7777
            switch info.st_mode & S_IFMT {
            case S_IFDIR: #expect(mode == 0o750, "\(path)")
            case S_IFREG: #expect(mode == (path.hasSuffix("run.sh") ? 0o750 : 0o640), "\(path)")
            default: Issue.record("unexpected entry \(path)")
            }
            #expect(mode & 0o007 == 0, "\(path) is accessible to others")
            if let group {
                #expect(info.st_gid == group && info.st_uid == 0, "\(path) belongs to \(info.st_uid):\(info.st_gid)")
            }
        }
    }

    @Test func aSingleFileReleaseIsNotWorldReadable() async throws {
        let directory = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: directory.file("app.py"), contents: Data("print(1)\n".utf8))
        let artifact = VerifiedArtifact(path: directory.file("app.py"), sha256: Self.sha, size: 9, etag: nil)
        let release = try await Self.installer(directory, group: nil).installRelease(
            artifact, isArchive: false, fileName: "app.py")
        for (path, info) in Self.tree(release) {
            #expect(info.st_mode & 0o7777 == 0o750, "\(path)")
            if getuid() == 0 { #expect(info.st_gid == 0, "without app.user the release belongs to root's group") }
        }
    }

    /// The user the app runs as reads its release; any other unprivileged user reads nothing of it.
    @Test(.enabled(if: getuid() == 0)) func onlyTheAppUserCanReadTheRelease() async throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let app = try #require(try UserAccount.lookup("nobody"))
        let artifact = try await Self.archive(in: directory)
        let release = try await Self.installer(directory, group: app.gid).installRelease(
            artifact, isArchive: true, fileName: "app.tar.gz")
        let stranger = UserAccount(name: "stranger", uid: 64_999, gid: 64_999, home: "/")
        for (user, expected) in [(app, ExitStatus.exited(0)), (stranger, .exited(1))] {
            let reader = try ChildProcess(
                .init(
                    arguments: ["cat", release + "/data.txt", release + "/sub/ro.txt"],
                    environment: ["PATH": "/usr/bin:/bin"],
                    user: user))
            #expect(await reader.waitForExit() == expected, "\(user.name)")
        }
    }

    /// A release unpacked afresh (here after pruning) is prepared again: its old marker does not count.
    @Test func aFreshUnpackDropsThePrepareMarker() async throws {
        let directory = try TemporaryDirectory()
        let artifact = try await Self.archive(in: directory)
        var installer = Self.installer(directory, group: nil)
        let prepare = PrepareRunner(
            markers: directory.file("prepared"), outputPath: directory.file("output.log"),
            environment: ["PATH": "/usr/bin:/bin"],
            logger: LogCapture().logger())
        let steps = [["sh", "-c", "echo x >> prepared-here"]]

        let release = try await installer.installRelease(artifact, isArchive: true, fileName: "app.tar.gz")
        try await prepare.run(steps: steps, release: release, sha256: Self.sha)
        #expect(prepare.isPrepared(sha256: Self.sha, steps: steps))

        // Installing what is already there keeps the release, and its marker.
        _ = try await installer.installRelease(artifact, isArchive: true, fileName: "app.tar.gz")
        #expect(prepare.isPrepared(sha256: Self.sha, steps: steps))

        // Pruned, then deployed again: a new, unprepared copy.
        installer.keep = 0
        installer.pruneReleases()
        #expect(!FileManager.default.fileExists(atPath: release))
        let again = try await installer.installRelease(artifact, isArchive: true, fileName: "app.tar.gz")
        #expect(!prepare.isPrepared(sha256: Self.sha, steps: steps))
        try await prepare.run(steps: steps, release: again, sha256: Self.sha)
        #expect(try String(contentsOfFile: again + "/prepared-here", encoding: .utf8) == "x\n")
    }
}
