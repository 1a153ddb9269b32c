/// What `clock-agent status` shows: the running agent's state, as JSON on the status socket.
///
/// The JSON form (`clock-agent status --json`) is stable: fields are added, never renamed or removed.
public struct StatusReport: Codable, Sendable, Equatable {
    /// The agent process.
    public struct Agent: Codable, Sendable, Equatable {
        /// The agent's version (`clock-agent version`).
        public var version: String
        /// The agent's process id.
        public var pid: Int32
        /// When the agent started (ISO 8601, UTC).
        public var startedAt: String
        /// Seconds since the agent started.
        public var uptimeSeconds: Int
        /// e.g. `healthy`, `restarting app`, `launch failed`, `draining`.
        public var phase: String
        /// Why the launch failed or the agent is stuck, when it is (the reason ABANDON was sent for).
        public var failure: String?

        /// Creates the agent part.
        public init(version: String, pid: Int32, startedAt: String, uptimeSeconds: Int, phase: String, failure: String?)
        {
            self.version = version
            self.pid = pid
            self.startedAt = startedAt
            self.uptimeSeconds = uptimeSeconds
            self.phase = phase
            self.failure = failure
        }
    }

    /// Who the instance is.
    public struct Identity: Codable, Sendable, Equatable {
        /// The EC2 instance id (from IMDS; a placeholder off EC2).
        public var instanceID: String
        /// The AWS region the agent calls.
        public var region: String
        /// The availability zone.
        public var availabilityZone: String
        /// The Auto Scaling group, when the instance is in one.
        public var autoScalingGroup: String?
        /// How the group was found: `configuration`, `instance metadata tag`, `DescribeAutoScalingInstances` or `none`.
        public var groupFoundBy: String

        /// Creates the identity part.
        public init(
            instanceID: String, region: String, availabilityZone: String, autoScalingGroup: String?,
            groupFoundBy: String
        ) {
            self.instanceID = instanceID
            self.region = region
            self.availabilityZone = availabilityZone
            self.autoScalingGroup = autoScalingGroup
            self.groupFoundBy = groupFoundBy
        }
    }

    /// The supervised app.
    public struct App: Codable, Sendable, Equatable {
        /// The SHA-256 of the installed release (`install_dir/releases/<sha256>`), once installed.
        public var release: String?
        /// The supervisor's phase: `starting`, `running`, `backoff`, `stopped`, or `not started` before the first start.
        public var state: String
        /// The app's process id while it runs.
        public var pid: Int32?
        /// When the current process started (ISO 8601, UTC).
        public var startedAt: String?
        /// Seconds the current process has been running.
        public var uptimeSeconds: Int?
        /// Whether the last health probe passed (without a health URL: whether it runs).
        public var healthy: Bool
        /// Restarts since the agent started.
        public var restarts: Int
        /// How the last process ended, e.g. `exit status 1` or `killed by SIGKILL`.
        public var lastExit: String?

        /// Creates the app part.
        public init(
            release: String?, state: String, pid: Int32?, startedAt: String?, uptimeSeconds: Int?, healthy: Bool,
            restarts: Int,
            lastExit: String?
        ) {
            self.release = release
            self.state = state
            self.pid = pid
            self.startedAt = startedAt
            self.uptimeSeconds = uptimeSeconds
            self.healthy = healthy
            self.restarts = restarts
            self.lastExit = lastExit
        }
    }

    /// One log source.
    public struct Source: Codable, Sendable, Equatable {
        /// The source's name (`logs.sources[].name`).
        public var name: String
        /// The CloudWatch Logs stream it ships to.
        public var stream: String
        /// Events CloudWatch accepted.
        public var eventsShipped: Int64
        /// Bytes of the batches CloudWatch accepted.
        public var bytesShipped: Int64
        /// Events refused as too old (in the dead-letter folder).
        public var rejectedTooOld: Int64
        /// Events refused as too new (in the dead-letter folder).
        public var rejectedTooNew: Int64
        /// Events refused as older than the group's retention (in the dead-letter folder).
        public var rejectedExpired: Int64
        /// Events written to `state_dir/dead-letter/` for any reason.
        public var deadLettered: Int64
        /// Messages whose invalid UTF-8 or NUL bytes were replaced.
        public var sanitised: Int64
        /// Lines split at the CloudWatch event size limit.
        public var truncated: Int64
        /// Batches sent and not yet accepted.
        public var batchesInFlight: Int
        /// Bytes written but not yet accepted by CloudWatch.
        public var backlogBytes: Int64
        /// Bytes that can never be shipped (files removed before they were read).
        public var lostBytes: Int64
        /// Acknowledged positions: `path@offset` per file, or the journal cursor.
        public var acknowledged: [String]
        /// The last error seen, if any.
        public var lastError: String?

        /// Creates a source's part.
        public init(
            name: String, stream: String, eventsShipped: Int64, bytesShipped: Int64, rejectedTooOld: Int64,
            rejectedTooNew: Int64,
            rejectedExpired: Int64, deadLettered: Int64, sanitised: Int64, truncated: Int64, batchesInFlight: Int,
            backlogBytes: Int64,
            lostBytes: Int64, acknowledged: [String], lastError: String?
        ) {
            self.name = name
            self.stream = stream
            self.eventsShipped = eventsShipped
            self.bytesShipped = bytesShipped
            self.rejectedTooOld = rejectedTooOld
            self.rejectedTooNew = rejectedTooNew
            self.rejectedExpired = rejectedExpired
            self.deadLettered = deadLettered
            self.sanitised = sanitised
            self.truncated = truncated
            self.batchesInFlight = batchesInFlight
            self.backlogBytes = backlogBytes
            self.lostBytes = lostBytes
            self.acknowledged = acknowledged
            self.lastError = lastError
        }
    }

    /// Lifecycle reporting.
    public struct Lifecycle: Codable, Sendable, Equatable {
        /// `lifecycle.launch_hook`, if configured.
        public var launchHook: String?
        /// `lifecycle.terminate_hook`, if configured.
        public var terminateHook: String?
        /// `CONTINUE` or `ABANDON` once the launch hook was completed.
        public var launchResult: String?
        /// The last lifecycle call and its outcome, e.g. `CompleteLifecycleAction clock-launch CONTINUE: completed`.
        public var lastCall: String?
        /// The target lifecycle state IMDS reported last (e.g. `InService`, `Terminated`).
        public var targetState: String?

        /// Creates the lifecycle part.
        public init(
            launchHook: String?, terminateHook: String?, launchResult: String?, lastCall: String?, targetState: String?
        ) {
            self.launchHook = launchHook
            self.terminateHook = terminateHook
            self.launchResult = launchResult
            self.lastCall = lastCall
            self.targetState = targetState
        }
    }

    /// Credentials in use (never the secret).
    public struct CredentialsInfo: Codable, Sendable, Equatable {
        /// `environment` or `instance-profile`.
        public var source: String
        /// The instance profile's role, when that is the source.
        public var role: String?
        /// The access key id, masked (`ASIA************3VTJ`).
        public var accessKeyID: String?
        /// When the credentials expire (ISO 8601, UTC); nil for long-term keys.
        public var expiration: String?
        /// The last error seen, if any.
        public var lastError: String?

        /// Creates the credentials part.
        public init(source: String, role: String?, accessKeyID: String?, expiration: String?, lastError: String?) {
            self.source = source
            self.role = role
            self.accessKeyID = accessKeyID
            self.expiration = expiration
            self.lastError = lastError
        }
    }

    /// The agent process.
    public var agent: Agent
    /// Who the instance is.
    public var identity: Identity
    /// The supervised app.
    public var app: App
    /// Each log source, in configuration order.
    public var logs: [Source]
    /// Lifecycle reporting.
    public var lifecycle: Lifecycle
    /// The credentials in use (never the secret).
    public var credentials: CredentialsInfo

    /// Creates a report.
    public init(
        agent: Agent, identity: Identity, app: App, logs: [Source], lifecycle: Lifecycle, credentials: CredentialsInfo
    ) {
        self.agent = agent
        self.identity = identity
        self.app = app
        self.logs = logs
        self.lifecycle = lifecycle
        self.credentials = credentials
    }
}
