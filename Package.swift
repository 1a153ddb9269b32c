// swift-tools-version:6.2
import PackageDescription

/// Settings every first-party Swift target shares: Swift 6 language mode and warnings treated as errors.
let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

/// The commit the build comes from, shown by `clock-agent version`.
let gitCommit: String = {
    guard let git = Context.gitInformation else { return "unknown" }
    return git.currentCommit + (git.hasUncommittedChanges ? "-dirty" : "")
}()

/// A C library linked from its static archive (`lib<name>.a`) into release builds, so the release binary needs no
/// shared copy of it; dynamically into debug builds. Used for zlib (gzip request bodies, `.tar.gz` artifacts; libcurl
/// may still load a libz of its own) and libyaml (the config file).
func staticInRelease(_ name: String) -> [LinkerSetting] {
    [
        .linkedLibrary(name, .when(configuration: .debug)),
        .unsafeFlags(
            ["-Xlinker", "-Bstatic", "-Xlinker", "-l\(name)", "-Xlinker", "-Bdynamic"], .when(configuration: .release)),
    ]
}

let package = Package(
    name: "clock-agent",
    products: [
        .executable(name: "clock-agent", targets: ["clock-agent"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .yum(["libcurl-devel"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"]), .yum(["systemd-devel"])]
        ),
        // zlib's headers only: how it is linked is AWSCore's `staticInRelease("z")`.
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"]), .yum(["zlib-devel", "zlib-static"])]
        ),
        // libyaml's headers only: how it is linked is AgentConfig's `staticInRelease("yaml")`.
        .systemLibrary(
            name: "CYAML",
            providers: [.apt(["libyaml-dev"]), .yum(["libyaml-devel"])]
        ),
        .target(
            name: "AWSCore",
            dependencies: [
                "CCurl",
                "CLinux",
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift,
            linkerSettings: staticInRelease("z")
        ),
        .target(
            name: "AgentConfig",
            dependencies: ["CYAML"],
            swiftSettings: strictSwift,
            linkerSettings: staticInRelease("yaml")
        ),
        .target(
            name: "SystemdSupport",
            dependencies: [
                "AWSCore",
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "JournalReader",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        .target(
            name: "AgentStatus",
            dependencies: ["AWSCore"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "Diagnostics",
            dependencies: [
                "AWSCore", "AgentConfig", "AgentStatus", "Bootstrap", "Supervisor",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "CLinux",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        .target(
            name: "LogShipper",
            dependencies: [
                "AWSCore",
                "CLinux",
                "AgentConfig",
                "JournalReader",
                "SystemdSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "CSpawn",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        .target(
            name: "Supervisor",
            dependencies: [
                "CSpawn",
                "AWSCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "Bootstrap",
            dependencies: [
                "AWSCore",
                "AgentConfig",
                "CZlib",
                "Supervisor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "CBuildInfo",
            cSettings: [.define("CLOCK_AGENT_GIT_COMMIT", to: "\"\(gitCommit)\"")]
        ),
        .executableTarget(
            name: "clock-agent",
            dependencies: [
                "CBuildInfo",
                "AgentStatus",
                "Diagnostics",
                "AWSCore",
                "AgentConfig",
                "Bootstrap",
                "LogShipper",
                "Supervisor",
                "SystemdSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "AWSCoreTests",
            dependencies: ["AWSCore", "TestSupport", .product(name: "Logging", package: "swift-log")],
            exclude: ["Resources"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "JournalReaderTests",
            dependencies: ["JournalReader", "AWSCore", "TestSupport"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "DiagnosticsTests",
            dependencies: ["Diagnostics", "TestSupport"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "LogShipperTests",
            dependencies: ["LogShipper", "AWSCore", "TestSupport"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "SupervisorTests",
            dependencies: ["Supervisor", "TestSupport"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "BootstrapTests",
            dependencies: ["Bootstrap", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "AgentConfigTests",
            dependencies: ["AgentConfig"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "TestSupport",
            dependencies: ["AWSCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: strictSwift
        ),
    ]
)
