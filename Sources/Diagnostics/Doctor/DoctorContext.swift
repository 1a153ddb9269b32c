import AWSCore

/// What the doctor needs from the outside world, each replaceable by tests (time, HTTP, file-system statistics,
/// systemd, the agent's status socket).
public struct DoctorContext: Sendable {
    /// The configuration file to check.
    public var configPath: String
    /// The process environment (AWS variables, endpoint overrides).
    public var environment: Environment
    /// The local wall clock whose skew against AWS is measured (tests substitute a skewed one).
    public var clock: any WallClock
    /// Sends every HTTP request (IMDS, AWS, the app's health URL).
    public var transport: any HTTPTransport
    /// `statvfs` of a path (tests simulate a full disk).
    public var fileSystemStats: @Sendable (String) -> FileSystemStats?
    /// What systemd says about the agent's unit.
    public var systemd: any SystemdProbing
    /// The agent's status socket; nil means `state_dir/status.sock` of the configuration.
    public var statusSocket: String?
    /// Time limits of the probes.
    public var limits: DoctorLimits

    /// Creates a context; everything but the path and environment defaults to the real thing.
    public init(
        configPath: String, environment: Environment, clock: any WallClock = SystemClock(),
        transport: any HTTPTransport,
        fileSystemStats: @escaping @Sendable (String) -> FileSystemStats? = FileSystemStats.of,
        systemd: any SystemdProbing = LiveSystemd(), statusSocket: String? = nil, limits: DoctorLimits = DoctorLimits()
    ) {
        self.configPath = configPath
        self.environment = environment
        self.clock = clock
        self.transport = transport
        self.fileSystemStats = fileSystemStats
        self.systemd = systemd
        self.statusSocket = statusSocket
        self.limits = limits
    }
}

/// How long each kind of probe may take, so the doctor finishes within a few seconds even when endpoints hang.
public struct DoctorLimits: Sendable {
    /// Instance metadata requests (one attempt each), in milliseconds.
    public var metadataMilliseconds: Int = 1_000
    /// One AWS API call (no retries), in milliseconds.
    public var awsMilliseconds: Int = 2_000
    /// The app's health URL at most (the configured `app.health.timeout` when shorter), in milliseconds.
    public var healthMilliseconds: Int = 3_000
    /// The status socket and `systemctl`, in seconds.
    public var localSeconds: Int = 2
    /// A safety net around each group of checks, in seconds: a check still running then is reported as stuck.
    public var checkSeconds: Int = 10

    /// The defaults.
    public init() {}
}
