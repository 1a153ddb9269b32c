import AgentConfig
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Installs verified artifacts as releases under `install_dir`:
///
/// ```
/// install_dir/releases/<sha256>/    one complete release per artifact
/// install_dir/current -> releases/<sha256>
/// ```
///
/// A release is unpacked into `releases/<sha256>.tmp` and renamed into place only when complete, and `current` is
/// replaced by renaming a new symlink over it, so `current` always points at a complete release and a crash at
/// any moment leaves either the old or the new one.
public struct ReleaseInstaller: Sendable {
    /// `app.install_dir`.
    public let installDirectory: String
    private let logger: Logger
    /// How many releases to keep (the current one always stays).
    public var keep = 3

    /// Creates an installer.
    public init(installDirectory: String, logger: Logger) {
        self.installDirectory = installDirectory
        self.logger = logger
    }

    var releases: String { installDirectory + "/releases" }

    /// The release directory of an artifact.
    public func releasePath(sha256: String) -> String { releases + "/" + sha256 }

    /// `install_dir/current`.
    public var currentPath: String { installDirectory + "/current" }

    /// Whether a complete release of this artifact is already installed.
    public func hasRelease(sha256: String) -> Bool { FileIO.isDirectory(releasePath(sha256: sha256)) }

    /// The release `current` points at, if any.
    public var currentRelease: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(currentPath, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Installs the artifact as `releases/<sha256>` (unpacking `.tar.gz`/`.tgz`, otherwise placing the single file
    /// as `fileName`), unless that release already exists. Returns the release directory.
    public func install(_ artifact: VerifiedArtifact, isArchive: Bool, fileName: String) throws -> String {
        let release = releasePath(sha256: artifact.sha256)
        if FileIO.isDirectory(release) { return release }
        do {
            try FileIO.makeDirectories(releases)
            let staging = release + ".tmp"
            try FileIO.removeTree(staging)
            guard mkdir(staging, 0o755) == 0 else { throw FileIO.fail("mkdir", staging) }
            do {
                if isArchive {
                    let summary = try TarArchive.extract(gzipFile: artifact.path, into: staging)
                    logger.info(
                        "archive unpacked",
                        metadata: [
                            "app.release": "\(artifact.sha256)", "archive.files": "\(summary.files)",
                            "archive.directories": "\(summary.directories)", "archive.bytes": "\(summary.bytes)",
                        ])
                } else {
                    try placeSingleFile(artifact.path, as: staging + "/" + fileName)
                }
                chmod(staging, 0o755)
                try syncTree(staging)
            } catch {
                try? FileIO.removeTree(staging)
                throw error
            }
            guard rename(staging, release) == 0 else { throw FileIO.fail("rename", staging) }
            FileIO.syncDirectory(of: release)
        } catch let error as TarError where error.errorNumber != nil {
            // A system call failed (disk full, permissions): the archive is fine, the machine isn't.
            throw BootstrapError(step: .install, message: "unpacking into \(installDirectory) failed: \(error)", isPermanent: false)
        } catch let error as TarError {
            throw BootstrapError(step: .install, message: "the artifact is not a safe archive: \(error)", isPermanent: true)
        } catch let failure as FileIO.Failure {
            throw BootstrapError(step: .install, message: "installing into \(installDirectory) failed", isPermanent: false, underlying: failure)
        }
        logger.info("release installed", metadata: ["app.release": "\(release)"])
        return release
    }

    /// Points `current` at the release: a new symlink renamed over the old one (atomic).
    public func activate(_ release: String) throws {
        let target = "releases/" + (release.split(separator: "/").last.map(String.init) ?? release)
        let temporary = installDirectory + "/.current.tmp"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else {
            throw BootstrapError(step: .install, message: "cannot create the current link", isPermanent: false, underlying: FileIO.fail("symlink", temporary))
        }
        guard rename(temporary, currentPath) == 0 else {
            let failure = FileIO.fail("rename", temporary)
            unlink(temporary)
            throw BootstrapError(step: .install, message: "cannot switch the current link", isPermanent: false, underlying: failure)
        }
        FileIO.syncDirectory(of: currentPath)
    }

    /// Removes unfinished `.tmp` releases and all but the newest `keep` releases (never the current one).
    public func pruneReleases() {
        let current = currentRelease.map { String($0.split(separator: "/").last ?? "") }
        var complete: [(name: String, modified: Int)] = []
        for name in FileIO.list(releases) {
            let path = releases + "/" + name
            if name.hasSuffix(".tmp") {
                try? FileIO.removeTree(path)
                continue
            }
            var info = stat()
            if stat(path, &info) == 0 { complete.append((name, Int(info.st_mtim.tv_sec))) }
        }
        complete.sort { $0.modified > $1.modified }
        for old in complete.dropFirst(keep) where old.name != current {
            try? FileIO.removeTree(releases + "/" + old.name)
            logger.info("old release removed", metadata: ["app.release": "\(old.name)"])
        }
    }

    private func placeSingleFile(_ source: String, as destination: String) throws {
        let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw FileIO.fail("create", destination) }
        defer { close(fd) }
        try FileIO.copy(source, to: fd)
        fchmod(fd, 0o755)
    }

    /// fsyncs every file and directory of the release so the rename publishes data that is on disk.
    private func syncTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw FileIO.fail("lstat", path) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            for name in FileIO.list(path) { try syncTree(path + "/" + name) }
        }
        guard type == S_IFDIR || type == S_IFREG else { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw FileIO.fail("open", path) }
        fsync(fd)
        close(fd)
    }
}
