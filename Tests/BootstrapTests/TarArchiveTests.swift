import Bootstrap
import Foundation
import TestSupport
import Testing

/// `TarArchive.extract` against archives Python's `tarfile` (and GNU tar, when installed) writes: a real app tree in
/// every format, and each way an archive can try to escape, overwrite, or exhaust the release directory.
@Suite(.timeLimit(.minutes(2)))
struct TarArchiveTests {
    // MARK: - Archives that must extract

    /// The app tree every format must reproduce: path → (bytes, mode). Nothing is readable by others: files are
    /// 0640, or 0750 when the archive makes them executable.
    static let appFiles: [String: (bytes: [UInt8], mode: mode_t)] = [
        "app/bin/run": (Array("#!/bin/sh\necho clock\n".utf8), 0o750),
        "app/lib/data.txt": (Array("tick tock\n".utf8), 0o640),  // 0664 in the archive
        "app/setuid": (Array("suid\n".utf8), 0o750),  // 06777 in the archive: setuid, setgid, g+w, o+rwx stripped
        "app/empty": ([], 0o640),
        "app/hard": (Array("tick tock\n".utf8), 0o640),
        TarArchiveTests.longPath: (Array("long\n".utf8), 0o640),
        "app/ünïcödé-日本.txt": (Array("ünïcödé\n".utf8), 0o640),
        "app/ro/inside": (Array("read only\n".utf8), 0o640),  // 0444 in the archive: the owner is root anyway
        "app/big.bin": (TarArchiveTests.bigFile, 0o640),
    ]

    /// A path over ustar's 100-byte name field (GNU `L`, PAX `path`, or ustar `prefix`).
    static let longPath =
        "app/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60)
        + "/file-with-a-long-name-" + String(repeating: "x", count: 30) + ".txt"

    /// 3 MB that cross the extractor's 1 MiB buffer and end off a block boundary (the generator makes the same).
    static let bigFile: [UInt8] = (0..<3_000_017).map { UInt8($0 % 251) }

    @Test("extracts an app tree with its bytes, modes, links and times", arguments: ["pax", "gnu", "ustar"])
    func appTree(format: String) throws {
        let work = try Workspace()
        try work.generate("app-\(format)")
        let summary = try work.extract()

        let bytes = Self.appFiles.values.reduce(Int64(0)) { $0 + Int64($1.bytes.count) } - 10  // the hard link
        #expect(summary == TarExtractionSummary(files: 9, directories: 6, symlinks: 2, bytes: bytes))
        for (path, expected) in Self.appFiles {
            #expect(work.contents(path) == expected.bytes, "\(path)")
            #expect(work.mode(path) == expected.mode, "\(path)")
        }
        for directory in ["app", "app/bin", "app/lib", "app/ro", "app/" + String(repeating: "d", count: 60)] {
            // 0777 and 0555 in the archive, implicit for app/lib: always 0750.
            #expect(work.mode(directory) == 0o750, "\(directory)")
        }
        #expect(work.symlink("app/link") == "lib/data.txt")
        #expect(work.contents("app/link") == Array("tick tock\n".utf8))
        #expect(work.symlink("app/bin/lib") == "../lib")
        #expect(work.contents("app/bin/lib/data.txt") == Array("tick tock\n".utf8))
        let hard = try #require(work.stat("app/hard"))
        let data = try #require(work.stat("app/lib/data.txt"))
        #expect(hard.st_ino == data.st_ino && data.st_nlink == 2)
        #expect(work.stat("app/bin/run")?.st_mtim.tv_sec == 1_500_000_000)
        #expect(work.stat("app")?.st_mtim.tv_sec == 1_600_000_000)
        #expect(work.sentinelIsUntouched())
        #expect(work.openDescriptors() == [])
    }

    @Test("extracts a ./-prefixed archive (tar -C dir -czf x.tgz .)", arguments: ["dot-tar", "dot-python"])
    func dotPrefixed(generator: String) throws {
        let work = try Workspace()
        try work.generate(generator)
        let summary = try work.extract()
        #expect(summary == TarExtractionSummary(files: 3, directories: 1, symlinks: 1, bytes: 18))
        #expect(work.contents("a.txt") == Array("a\n".utf8))
        #expect(work.contents("sub/b.txt") == Array("bee\n".utf8))
        #expect(work.contents("sub/run") == Array("#!/bin/true\n".utf8))
        #expect(work.mode("sub/run") == 0o750)
        #expect(work.mode("sub/b.txt") == 0o640)
        #expect(work.symlink("sub/link") == "b.txt")
        #expect(work.mode("") == 0o700, "the extraction directory itself is the caller's, left alone")
    }

    /// Archives that are unusual but valid, each holding `hello.txt` = "hello\n" (and `world.txt` when multi-member).
    @Test(
        "extracts valid variants",
        arguments: [
            "multi-member", "gzip-zero-padding", "one-zero-block", "base256-size", "signed-checksum", "pax-mtime",
        ])
    func variants(name: String) throws {
        let work = try Workspace()
        try work.generate(name)
        let summary = try work.extract()
        #expect(summary.files >= 1)
        #expect(work.contents(name == "signed-checksum" ? "signé.txt" : "hello.txt") == Array("hello\n".utf8))
        if name == "multi-member" { #expect(work.contents("world.txt") == Array("world\n".utf8)) }
        if name == "pax-mtime" {
            #expect(work.stat("hello.txt")?.st_mtim.tv_sec == 1_700_000_000)
            #expect(work.stat("hello.txt")?.st_mtim.tv_nsec == 250_000_000)
        }
    }

    // MARK: - Archives that must be refused

    @Test("refuses a hostile or broken archive, naming the entry and the reason", arguments: HostileCase.all)
    func hostile(_ hostile: HostileCase) throws {
        let work = try Workspace()
        try work.generate(hostile.name)
        let error = #expect(throws: TarError.self) { try work.extract(limits: hostile.limits) }
        let expectedEntry = hostile.entry?.replacingOccurrences(of: "{sentinel}", with: work.sentinel)
        #expect(error?.entry == expectedEntry)
        #expect(error?.description.contains(hostile.reason) == true, "\(String(describing: error))")
        if let expectedEntry, let error {
            #expect(
                error.description.hasPrefix(
                    "archive entry \"\(expectedEntry.replacingOccurrences(of: "\0", with: "\\u{0}"))\": "))
        }
        for path in hostile.absent {
            #expect(work.stat(path) == nil, "\(path) must not be created")
        }
        #expect(work.sentinelIsUntouched())
        #expect(access("/etc/clock-agent-tar-canary", F_OK) != 0)
        #expect(work.openDescriptors() == [], "no descriptor stays open after an error")
    }

    @Test("refuses a gzip stream with a corrupt byte in the middle")
    func corruptMiddle() throws {
        let work = try Workspace()
        try work.generate("gzip-middle")
        let error = #expect(throws: TarError.self) { try work.extract() }
        #expect(error?.description.isEmpty == false)
        #expect(work.sentinelIsUntouched())
        #expect(work.openDescriptors() == [])
    }

    @Test("refuses an extraction directory that is not empty")
    func notEmpty() throws {
        let work = try Workspace()
        try work.generate("app-pax")
        #expect(FileManager.default.createFile(atPath: work.out + "/stale", contents: Data("x".utf8)))
        let error = #expect(throws: TarError.self) { try work.extract() }
        #expect(error?.description.contains("is not empty") == true)
        #expect(work.stat("app") == nil)
    }

    @Test("error descriptions escape control characters in names")
    func quoting() {
        let error = TarError(entry: "evil\n\"name\"\u{1b}[31m", message: "bad")
        #expect(error.description == #"archive entry "evil\u{a}\"name\"\u{1b}[31m": bad"#)
        #expect(
            TarError(message: "corrupt gzip stream: incorrect data check").description
                == "archive: corrupt gzip stream: incorrect data check")
        #expect(
            TarError(entry: "f", message: "cannot create file", errorNumber: EEXIST).description
                == "archive entry \"f\": cannot create file: File exists (errno \(EEXIST))")
    }
}

/// An archive that must be refused: the generator case, the entry the error names, and words of its reason.
struct HostileCase: Sendable, CustomTestStringConvertible {
    /// The generator case (see `Workspace.generator`).
    var name: String
    /// The entry named by the error (`{sentinel}` stands for the sentinel's absolute path); nil for the whole archive.
    var entry: String?
    /// Part of the description a user reads.
    var reason: String
    /// Limits for the extraction.
    var limits: TarLimits = .default
    /// Paths inside the extraction directory that must not exist afterwards.
    var absent: [String] = []

    /// The generator case names the test case.
    var testDescription: String { name }

    static let all: [HostileCase] = [
        .init(name: "absolute", entry: "{sentinel}/pwned", reason: "absolute path is not allowed"),
        .init(name: "dotdot", entry: "../sentinel/pwned", reason: "path escapes the release directory"),
        .init(
            name: "inner-dotdot", entry: "a/../../sentinel/pwned", reason: "path escapes the release directory",
            absent: ["a"]),
        .init(
            name: "pax-path-escape", entry: "../sentinel/pwned", reason: "path escapes the release directory",
            absent: ["benign.txt"]),
        .init(
            name: "gnu-long-escape", entry: "../sentinel/" + String(repeating: "p", count: 120),
            reason: "path escapes the release directory"),
        .init(name: "nul-name", entry: "a\0b", reason: "name contains a NUL byte", absent: ["a", "ok.txt"]),
        .init(name: "empty-name", entry: "", reason: "empty name"),
        .init(name: "file-named-dot", entry: ".", reason: "a file cannot replace the release directory itself"),
        .init(name: "symlink-etc", entry: "etc", reason: #"symlink target "/etc" is absolute"#, absent: ["etc"]),
        .init(name: "symlink-absolute-write", entry: "link", reason: "is absolute", absent: ["link"]),
        .init(
            name: "symlink-up-root", entry: "up", reason: #"symlink target ".." resolves outside the release"#,
            absent: ["up"]),
        .init(
            name: "symlink-write-through", entry: "d/up/x",
            reason: #"path goes through the symlink "d/up" extracted earlier"#, absent: ["x"]),
        .init(
            name: "symlink-chain", entry: "b", reason: #"symlink target "../.." resolves outside"#,
            absent: ["b", "a/pwned"]),
        .init(
            name: "symlink-dotdot-through-link", entry: "y",
            reason: #"climbs ("..") out of "x/l", which is not a directory extracted earlier"#, absent: ["y"]),
        .init(
            name: "symlink-dotdot-before-link", entry: "y", reason: #"climbs ("..") out of "x/l""#,
            absent: ["y", "x"]),
        .init(
            name: "hardlink-etc-passwd", entry: "passwd",
            reason: #"hard link target "/etc/passwd": absolute path is not allowed"#, absent: ["passwd"]),
        .init(
            name: "hardlink-dotdot", entry: "keep",
            reason: #"hard link target "../sentinel/keep": path escapes the release directory"#, absent: ["keep"]),
        .init(
            name: "hardlink-missing", entry: "h",
            reason: #"hard link target "nothere" is not a regular file extracted earlier"#, absent: ["h"]),
        .init(
            name: "hardlink-to-symlink", entry: "h", reason: "is not a regular file extracted earlier",
            absent: ["h"]),
        .init(
            name: "hardlink-to-directory", entry: "h", reason: "is not a regular file extracted earlier",
            absent: ["h"]),
        .init(
            name: "hardlink-through-symlink", entry: "h",
            reason: #"hard link target "l/f" is not a regular file extracted earlier"#, absent: ["h"]),
        .init(name: "chardev", entry: "null", reason: "unsupported entry type: character device", absent: ["null"]),
        .init(name: "blockdev", entry: "sda", reason: "unsupported entry type: block device", absent: ["sda"]),
        .init(name: "fifo", entry: "pipe", reason: "unsupported entry type: FIFO", absent: ["pipe"]),
        .init(
            name: "contiguous", entry: "contiguous", reason: #"unsupported entry type: type "7""#,
            absent: ["contiguous"]),
        .init(
            name: "pax-sparse", entry: "sparse.txt", reason: "unsupported entry type: GNU sparse file",
            absent: ["sparse.txt"]),
        .init(name: "dir-then-file", entry: "d", reason: "would replace a directory extracted earlier"),
        .init(
            name: "file-then-dir", entry: "f/",
            reason: "a file with this name was extracted earlier; a directory cannot replace it"),
        .init(name: "duplicate-file", entry: "f", reason: "duplicate entry: a file with this name was extracted"),
        .init(name: "file-then-child", entry: "f/child", reason: #"path goes through "f", which is a file"#),
        .init(
            name: "too-many", entry: "f3", reason: "archive has more than 3 entries",
            limits: TarLimits(maxEntries: 3), absent: ["f3"]),
        .init(
            name: "too-many-implicit", entry: "a/b/c/d/e", reason: "archive has more than 3 entries",
            limits: TarLimits(maxEntries: 3), absent: ["a"]),
        .init(
            name: "too-big-file", entry: "big", reason: "file is 1000 bytes, more than the limit of 999 bytes",
            limits: TarLimits(maxEntryBytes: 999), absent: ["big"]),
        .init(
            name: "too-big-total", entry: "two", reason: "more than the limit of 1000 bytes of file data",
            limits: TarLimits(maxTotalBytes: 1000), absent: ["two"]),
        .init(name: "lone-zero-block", entry: nil, reason: "a single zero block is followed by more entries"),
        .init(name: "no-end-marker", entry: nil, reason: "truncated archive: it ends without the end-of-archive"),
        .init(name: "truncated-gzip", entry: "big.bin", reason: "truncated archive: the gzip stream ends early"),
        .init(
            name: "truncated-data", entry: "big.bin",
            reason: "truncated archive: the file's data ends after 50000 of 100000 bytes"),
        .init(name: "truncated-header", entry: nil, reason: "truncated archive: it ends inside a header"),
        .init(name: "gzip-crc", entry: nil, reason: "corrupt gzip stream: incorrect data check"),
        .init(name: "gzip-header", entry: nil, reason: "corrupt gzip stream: incorrect header check"),
        .init(name: "bad-checksum", entry: "b.txt", reason: "bad header checksum", absent: ["b.txt"]),
        .init(name: "not-tar", entry: nil, reason: "not a tar archive: the first header is invalid"),
    ]
}

/// One test's files: `archive.tar.gz`, the extraction directory `out`, and `sentinel/keep` next to it, which no
/// archive may touch.
struct Workspace {
    /// The test's directory, removed afterwards.
    let temporary: TemporaryDirectory
    /// The archive the generator writes.
    var archive: String { temporary.file("archive.tar.gz") }
    /// The extraction directory (empty, mode 0700, before extraction).
    var out: String { temporary.file("out") }
    /// A directory next to `out` that hostile archives aim at.
    var sentinel: String { temporary.file("sentinel") }
    /// What `sentinel/keep` holds.
    static let sentinelBytes = Data("sentinel\n".utf8)

    /// Creates the directories and the sentinel file.

    init() throws {
        temporary = try TemporaryDirectory(prefix: "clock-agent-tar")
        try FileManager.default.createDirectory(
            atPath: temporary.file("out"), withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: temporary.file("sentinel"), withIntermediateDirectories: false)
        try Self.sentinelBytes.write(to: URL(fileURLWithPath: temporary.file("sentinel/keep")))
    }

    /// Extracts `archive.tar.gz` into `out`.
    func extract(limits: TarLimits = .default) throws -> TarExtractionSummary {
        try TarArchive.extract(gzipFile: archive, into: out, limits: limits)
    }

    /// Writes `archive.tar.gz` for a generator case with Python's `tarfile`, bounded to 30 seconds.
    func generate(_ name: String) throws {
        let (status, _, errors) = try Self.run(Self.python, ["-c", Self.generator, name, archive, sentinel])
        try #require(status == 0, "generator \(name) failed: \(errors)")
    }

    /// The Python 3 interpreter itself, found once through `PATH` (a pyenv shim costs a shell on every call).
    static let python: String = {
        let found = try? run("/usr/bin/env", ["python3", "-c", "import sys; print(sys.executable)"])
        let path = found?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return found?.status == 0 && path.hasPrefix("/") ? path : "/usr/bin/python3"
    }()

    /// Runs a program to completion, killing it after 30 seconds; its exit status, stdout and stderr.
    static func run(
        _ executable: String, _ arguments: [String]
    ) throws -> (
        status: Int32, output: String, errors: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(2_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let text = { (pipe: Pipe) in String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        return (process.terminationStatus, text(output), text(errors))
    }

    /// The bytes of a file in `out` (following symlinks), nil when unreadable.
    func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: out + "/" + path).map { [UInt8]($0) }
    }

    /// `lstat` of a path in `out`, nil when absent.
    func stat(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return lstat(out + "/" + path, &info) == 0 ? info : nil
    }

    /// The permission bits of a path in `out`.
    func mode(_ path: String) -> mode_t? {
        stat(path).map { $0.st_mode & 0o7777 }
    }

    /// A symlink's target, nil when not a symlink.
    func symlink(_ path: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: out + "/" + path)
    }

    /// This process's descriptors that point into the workspace (the archive, `out` or anything inside it).
    func openDescriptors() -> [String] {
        let fileManager = FileManager.default
        let root = URL(fileURLWithPath: temporary.path).resolvingSymlinksInPath().path + "/"
        let descriptors = (try? fileManager.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return descriptors.compactMap { try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
            .filter { $0.hasPrefix(root) }
    }

    /// Whether the sentinel still holds exactly `keep` (same bytes, one link) and nothing new sits next to `out`.
    func sentinelIsUntouched() -> Bool {
        let fileManager = FileManager.default
        var info = Glibc.stat()
        return (try? fileManager.contentsOfDirectory(atPath: sentinel)) == ["keep"]
            && fileManager.contents(atPath: sentinel + "/keep") == Self.sentinelBytes
            && lstat(sentinel + "/keep", &info) == 0 && info.st_nlink == 1
            && (try? fileManager.contentsOfDirectory(atPath: temporary.path).sorted())
                == ["archive.tar.gz", "out", "sentinel"]
    }

    /// The Python generator: `python3 -c <this> <case> <archive path> <sentinel path>`.
    static let generator = #"""
        import gzip, io, os, random, shutil, subprocess, sys, tarfile, tempfile

        case, out, sentinel = sys.argv[1:4]
        REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
        FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}

        def m(name, kind=REG, data=b"", mode=None, link="", mtime=1_600_000_000, pax=None):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode if mode is not None else (0o755 if kind == DIR else 0o644)
            info.mtime = mtime
            info.linkname = link
            info.size = len(data) if kind in (REG, tarfile.CONTTYPE) else 0
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            if pax:
                info.pax_headers = pax
            return info, data

        def tar(members, fmt=tarfile.PAX_FORMAT, end=True, **options):
            buffer = io.BytesIO()
            archive = tarfile.open(fileobj=buffer, mode="w", format=fmt, **options)
            for info, data in members:
                archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
            size = archive.offset
            archive.close()
            return buffer.getvalue() if end else buffer.getvalue()[:size]

        def gz(data):
            return gzip.compress(data, compresslevel=1, mtime=0)

        def save(data):
            with open(out, "wb") as file:
                file.write(data)

        def checksum(data, offset, signed=False):
            header = data[offset:offset + 512]
            header[148:156] = b" " * 8
            total = sum(b - 256 if signed and b > 127 else b for b in header)
            data[offset + 148:offset + 156] = b"%06o\0 " % total

        HELLO = [m("hello.txt", data=b"hello\n")]
        LONG = "app/" + "d" * 60 + "/" + "e" * 60 + "/file-with-a-long-name-" + "x" * 30 + ".txt"
        BIG = (bytes(range(251)) * (3_000_017 // 251 + 1))[:3_000_017]

        if case.startswith("app-"):
            fmt = FORMATS[case[4:]]
            members = [
                m("app/", DIR, mode=0o755),
                m("app/bin/", DIR, mode=0o777),
                m("app/bin/run", data=b"#!/bin/sh\necho clock\n", mode=0o755, mtime=1_500_000_000),
                m("app/lib/data.txt", data=b"tick tock\n", mode=0o664),
                m("app/setuid", data=b"suid\n", mode=0o6777),
                m("app/empty"),
                m("app/link", SYM, link="lib/data.txt"),
                m("app/bin/lib", SYM, link="../lib"),
                m("app/hard", LNK, link="app/lib/data.txt"),
                m(LONG, data=b"long\n"),
                m("app/ünïcödé-日本.txt", data="ünïcödé\n".encode()),
                m("app/ro/", DIR, mode=0o555),
                m("app/ro/inside", data=b"read only\n", mode=0o444),
                m("app/big.bin", data=BIG),
            ]
            options = {"pax_headers": {"comment": "a global header, ignored"}} if fmt == tarfile.PAX_FORMAT else {}
            save(gz(tar(members, fmt, **options)))
        elif case.startswith("dot-"):
            source = tempfile.mkdtemp()
            try:
                os.makedirs(os.path.join(source, "sub"))
                for name, data, mode in [("a.txt", b"a\n", 0o644), ("sub/b.txt", b"bee\n", 0o644),
                                         ("sub/run", b"#!/bin/true\n", 0o755)]:
                    with open(os.path.join(source, name), "wb") as file:
                        file.write(data)
                    os.chmod(os.path.join(source, name), mode)
                os.symlink("b.txt", os.path.join(source, "sub/link"))
                if case == "dot-tar" and shutil.which("tar"):
                    subprocess.run(["tar", "-C", source, "-czf", out, "."], check=True, timeout=20)
                else:
                    with tarfile.open(out, "w:gz", compresslevel=1) as archive:
                        archive.add(source, arcname=".")
            finally:
                shutil.rmtree(source)
        elif case == "multi-member":
            data = tar(HELLO + [m("world.txt", data=b"world\n")])
            save(gz(data[:700]) + gz(data[700:]))
        elif case == "gzip-zero-padding":
            save(gz(tar(HELLO)) + b"\0" * 1000)
        elif case == "one-zero-block":
            save(gz(tar(HELLO, end=False) + b"\0" * 512))
        elif case == "base256-size":
            data = bytearray(tar(HELLO, tarfile.GNU_FORMAT))
            data[124:136] = b"\x80" + (6).to_bytes(11, "big")
            checksum(data, 0)
            save(gz(bytes(data)))
        elif case == "signed-checksum":
            data = bytearray(tar([m("signé.txt", data=b"hello\n")], tarfile.USTAR_FORMAT))
            checksum(data, 0, signed=True)
            save(gz(bytes(data)))
        elif case == "pax-mtime":
            save(gz(tar([m("hello.txt", data=b"hello\n", pax={"mtime": "1700000000.25"})])))
        elif case == "gzip-middle":
            data = bytearray(gz(tar([m("random.bin", data=random.Random(7).randbytes(200_000))])))
            data[len(data) // 2] ^= 0x55
            save(bytes(data))
        else:
            big = [m("big.bin", data=random.Random(7).randbytes(200_000))]
            hostile = {
                "absolute": [m(sentinel + "/pwned", data=b"x")],
                "dotdot": [m("../sentinel/pwned", data=b"x")],
                "inner-dotdot": [m("a/../../sentinel/pwned", data=b"x")],
                "pax-path-escape": [m("benign.txt", data=b"x", pax={"path": "../sentinel/pwned"})],
                "nul-name": [m("ok.txt", data=b"x", pax={"path": "a\0b"})],
                "empty-name": [m("", data=b"x")],
                "file-named-dot": [m(".", data=b"x")],
                "symlink-etc": [m("etc", SYM, link="/etc"), m("etc/clock-agent-tar-canary", data=b"x")],
                "symlink-absolute-write": [m("link", SYM, link=sentinel), m("link/pwned", data=b"x")],
                "symlink-up-root": [m("up", SYM, link=".."), m("up/sentinel/pwned", data=b"x")],
                "symlink-write-through": [m("d/", DIR), m("d/up", SYM, link=".."), m("d/up/x", data=b"x")],
                "symlink-chain": [m("a", SYM, link="b"), m("b", SYM, link="../.."), m("a/pwned", data=b"x")],
                "symlink-dotdot-through-link": [m("x/", DIR), m("x/l", SYM, link=".."),
                                                m("y", SYM, link="x/l/../sentinel"), m("y/pwned", data=b"x")],
                "symlink-dotdot-before-link": [m("y", SYM, link="x/l/../../sentinel"), m("x/", DIR),
                                               m("x/l", SYM, link="..")],
                "hardlink-etc-passwd": [m("passwd", LNK, link="/etc/passwd")],
                "hardlink-dotdot": [m("keep", LNK, link="../sentinel/keep")],
                "hardlink-missing": [m("h", LNK, link="nothere")],
                "hardlink-to-symlink": [m("f", data=b"x"), m("s", SYM, link="f"), m("h", LNK, link="s")],
                "hardlink-to-directory": [m("d/", DIR), m("h", LNK, link="d")],
                "hardlink-through-symlink": [m("d/", DIR), m("d/f", data=b"x"), m("l", SYM, link="d"),
                                             m("h", LNK, link="l/f")],
                "chardev": [m("null", tarfile.CHRTYPE)],
                "blockdev": [m("sda", tarfile.BLKTYPE)],
                "fifo": [m("pipe", tarfile.FIFOTYPE)],
                "contiguous": [m("contiguous", tarfile.CONTTYPE, data=b"x")],
                "pax-sparse": [m("sparse.txt", data=b"x", pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                                               "GNU.sparse.realsize": "1000"})],
                "dir-then-file": [m("d/", DIR), m("d", data=b"x")],
                "file-then-dir": [m("f", data=b"x"), m("f/", DIR)],
                "duplicate-file": [m("f", data=b"x"), m("f", data=b"y")],
                "file-then-child": [m("f", data=b"x"), m("f/child", data=b"y")],
                "too-many": [m(f"f{i}", data=b"x") for i in range(5)],
                "too-many-implicit": [m("a/b/c/d/e", data=b"x")],
                "too-big-file": [m("small", data=b"x" * 10), m("big", data=b"x" * 1000)],
                "too-big-total": [m("one", data=b"x" * 600), m("two", data=b"x" * 600)],
            }
            if case in hostile:
                save(gz(tar(hostile[case])))
            elif case == "gnu-long-escape":
                save(gz(tar([m("../sentinel/" + "p" * 120, data=b"x")], tarfile.GNU_FORMAT)))
            elif case == "lone-zero-block":
                save(gz(tar(HELLO, end=False) + b"\0" * 512 + tar([m("after.txt", data=b"x")])))
            elif case == "no-end-marker":
                save(gz(tar(HELLO, end=False)))
            elif case == "truncated-gzip":
                data = gz(tar(big))
                save(data[:len(data) // 2])
            elif case == "truncated-data":
                save(gz(tar([m("big.bin", data=b"z" * 100_000)], tarfile.USTAR_FORMAT)[:512 + 50_000]))
            elif case == "truncated-header":
                save(gz(tar(HELLO + [m("second.txt", data=b"x")], tarfile.USTAR_FORMAT)[:1024 + 300]))
            elif case in ("gzip-crc", "gzip-header"):
                data = bytearray(gz(tar(HELLO)))
                data[-8 if case == "gzip-crc" else 0] ^= 0xFF
                save(bytes(data))
            elif case == "not-tar":
                save(gz(b"print('hello from a lone script')\n" * 40))
            elif case == "bad-checksum":
                data = bytearray(tar(HELLO + [m("b.txt", data=b"y")], tarfile.USTAR_FORMAT))
                data[1024 + 104] = ord("7")  # the mode field 0000644 becomes 0000744, checksum left as it was
                save(gz(bytes(data)))
            else:
                sys.exit(f"unknown case {case}")
        """#
}
