import AWSCore
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
///
/// Nothing in a release is readable by others (DESIGN.md): directories are 0750, files 0640 (0750 when
/// executable), owned by root and group-owned by `app.user`'s primary group when one is set (so the app can read
/// its release), by root otherwise.
public struct ReleaseInstaller: Sendable {
    /// `app.install_dir`.
    public let installDirectory: String
    private let preparedMarkers: String?
    private let group: gid_t?
    private let logger: Logger
    /// How many releases to keep (the current one always stays).
    public var keep = 3

    /// Creates an installer.
    /// - Parameters:
    ///   - preparedMarkers: `state_dir/prepared` (`PrepareRunner`'s markers): a release unpacked afresh drops its
    ///     marker, so its prepare steps run again.
    ///   - group: the group that may read the releases: `app.user`'s primary group, nil for root's.
    public init(installDirectory: String, preparedMarkers: String? = nil, group: gid_t? = nil, logger: Logger) {
        self.installDirectory = installDirectory
        self.preparedMarkers = preparedMarkers
        self.group = group
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
    ///
    /// Unpacking, and the fsync of every file before the release is published, run on a thread of their own: the
    /// calling task waits without holding a thread of the cooperative pool.
    public func installRelease(_ artifact: VerifiedArtifact, isArchive: Bool, fileName: String) async throws -> String {
        try await DedicatedThread.run { try install(artifact, isArchive: isArchive, fileName: fileName) }
    }

    /// `installRelease`, blocking the calling thread for as long as the unpacking takes: never call it from the
    /// cooperative pool.
    func install(_ artifact: VerifiedArtifact, isArchive: Bool, fileName: String) throws -> String {
        let release = releasePath(sha256: artifact.sha256)
        if FileIO.isDirectory(release) { return release }
        do {
            try FileIO.makeDirectories(releases)
            let staging = release + ".tmp"
            try FileIO.removeTree(staging)
            // Owner-only while it fills; the final mode and group are set once everything is in place.
            guard mkdir(staging, 0o700) == 0 else { throw FileIO.fail("mkdir", staging) }
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
                try finishTree(staging, group: group ?? (geteuid() == 0 ? 0 : nil))
                guard chmod(staging, TarExtractor.directoryMode) == 0 else { throw FileIO.fail("chmod", staging) }
            } catch {
                try? FileIO.removeTree(staging)
                throw error
            }
            // A fresh copy has not been prepared, whatever a marker left from a pruned copy of it says.
            if let preparedMarkers {
                let marker = PrepareRunner.markerPath(markers: preparedMarkers, sha256: artifact.sha256)
                if unlink(marker) != 0, errno != ENOENT { throw FileIO.fail("unlink", marker) }
                FileIO.syncDirectory(of: marker)
            }
            guard rename(staging, release) == 0 else { throw FileIO.fail("rename", staging) }
            FileIO.syncDirectory(of: release)
        } catch let error as TarError where error.errorNumber != nil {
            // A system call failed (disk full, permissions): the archive is fine, the machine isn't.
            throw BootstrapError(
                step: .install, message: "unpacking into \(installDirectory) failed: \(error)", isPermanent: false)
        } catch let error as TarError {
            throw BootstrapError(
                step: .install, message: "the artifact is not a safe archive: \(error)", isPermanent: true)
        } catch let failure as FileIO.Failure {
            throw BootstrapError(
                step: .install, message: "installing into \(installDirectory) failed", isPermanent: false,
                underlying: failure)
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
            throw BootstrapError(
                step: .install, message: "cannot create the current link", isPermanent: false,
                underlying: FileIO.fail("symlink", temporary))
        }
        guard rename(temporary, currentPath) == 0 else {
            let failure = FileIO.fail("rename", temporary)
            unlink(temporary)
            throw BootstrapError(
                step: .install, message: "cannot switch the current link", isPermanent: false, underlying: failure)
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
        let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileIO.fail("create", destination) }
        defer { close(fd) }
        try FileIO.copy(source, to: fd)
        guard fchmod(fd, TarExtractor.fileMode(0o755)) == 0 else { throw FileIO.fail("chmod", destination) }
    }

    /// Gives every file and directory of the release its group and fsyncs it, so the rename publishes data that is
    /// on disk. Entries are opened without following symlinks (the tree is the agent's own, in an owner-only
    /// directory, but a symlink from the archive must not lead the chown elsewhere); symlinks keep the agent's group.
    private func finishTree(_ path: String, group: gid_t?) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw FileIO.fail("lstat", path) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            for name in FileIO.list(path) { try finishTree(path + "/" + name, group: group) }
        }
        guard type == S_IFDIR || type == S_IFREG else { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw FileIO.fail("open", path) }
        defer { close(fd) }
        if let group, info.st_gid != group, fchown(fd, uid_t.max, group) != 0 { throw FileIO.fail("chown", path) }
        guard fsync(fd) == 0 else { throw FileIO.fail("fsync", path) }
    }
}
