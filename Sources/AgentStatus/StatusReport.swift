/// What `clock-agent status` shows: the running agent's state, as JSON on the status socket.
///
/// The JSON form (`clock-agent status --json`) is stable: fields are added, never renamed or removed.
public struct StatusReport: Codable, Sendable, Equatable {
    /// The agent process.
    public struct Agent: Codable, Sendable, Equatable {
        public var version: String
        public var pid: Int32
        public var startedAt: String
        public var uptimeSeconds: Int
        /// e.g. `healthy`, `restarting app`, `launch failed`, `draining`.
        public var phase: String
        public var failure: String?

        public init(version: String, pid: Int32, startedAt: String, uptimeSeconds: Int, phase: String, failure: String?) {
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
        public var instanceID: String
        public var region: String
        public var availabilityZone: String
        public var autoScalingGroup: String?
        public var groupFoundBy: String

        public init(instanceID: String, region: String, availabilityZone: String, autoScalingGroup: String?, groupFoundBy: String) {
            self.instanceID = instanceID
            self.region = region
            self.availabilityZone = availabilityZone
            self.autoScalingGroup = autoScalingGroup
            self.groupFoundBy = groupFoundBy
        }
    }

    /// The supervised app.
    public struct App: Codable, Sendable, Equatable {
        public var release: String?
        public var state: String
        public var pid: Int32?
        public var startedAt: String?
        public var uptimeSeconds: Int?
        public var healthy: Bool
        public var restarts: Int
        public var lastExit: String?

        public init(
            release: String?, state: String, pid: Int32?, startedAt: String?, uptimeSeconds: Int?, healthy: Bool, restarts: Int,
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
        public var name: String
        public var stream: String
        public var eventsShipped: Int64
        public var bytesShipped: Int64
        public var rejectedTooOld: Int64
        public var rejectedTooNew: Int64
        public var rejectedExpired: Int64
        public var deadLettered: Int64
        public var sanitised: Int64
        public var truncated: Int64
        public var batchesInFlight: Int
        public var backlogBytes: Int64
        public var lostBytes: Int64
        /// Acknowledged positions: `path@offset` per file, or the journal cursor.
        public var acknowledged: [String]
        public var lastError: String?

        public init(
            name: String, stream: String, eventsShipped: Int64, bytesShipped: Int64, rejectedTooOld: Int64, rejectedTooNew: Int64,
            rejectedExpired: Int64, deadLettered: Int64, sanitised: Int64, truncated: Int64, batchesInFlight: Int, backlogBytes: Int64,
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
        public var launchHook: String?
        public var terminateHook: String?
        public var launchResult: String?
        public var lastCall: String?
        public var targetState: String?

        public init(launchHook: String?, terminateHook: String?, launchResult: String?, lastCall: String?, targetState: String?) {
            self.launchHook = launchHook
            self.terminateHook = terminateHook
            self.launchResult = launchResult
            self.lastCall = lastCall
            self.targetState = targetState
        }
    }

    /// Credentials in use (never the secret).
    public struct CredentialsInfo: Codable, Sendable, Equatable {
        public var source: String
        public var role: String?
        public var accessKeyID: String?
        public var expiration: String?
        public var lastError: String?

        public init(source: String, role: String?, accessKeyID: String?, expiration: String?, lastError: String?) {
            self.source = source
            self.role = role
            self.accessKeyID = accessKeyID
            self.expiration = expiration
            self.lastError = lastError
        }
    }

    public var agent: Agent
    public var identity: Identity
    public var app: App
    public var logs: [Source]
    public var lifecycle: Lifecycle
    public var credentials: CredentialsInfo

    public init(agent: Agent, identity: Identity, app: App, logs: [Source], lifecycle: Lifecycle, credentials: CredentialsInfo) {
        self.agent = agent
        self.identity = identity
        self.app = app
        self.logs = logs
        self.lifecycle = lifecycle
        self.credentials = credentials
    }
}
