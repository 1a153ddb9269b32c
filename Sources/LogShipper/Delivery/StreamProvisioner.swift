import AWSCore
import Logging

/// Creates the log group (with its retention) and streams when CloudWatch says they are missing — never
/// before, and never with DescribeLogStreams: the first PutLogEvents of a stream that exists costs no control-plane
/// call at all, which keeps a large fleet clear of the CreateLogStream and Describe quotas.
public actor StreamProvisioner {
    private let logs: CloudWatchLogsClient
    private let group: String
    private let retentionDays: Int?
    private let logger: Logger
    private var ready: Set<String> = []
    /// Control-plane calls made (for the fleet analysis and status).
    public private(set) var controlPlaneCalls = 0

    /// Creates a provisioner for one group.
    public init(logs: CloudWatchLogsClient, group: String, retentionDays: Int?, logger: Logger) {
        self.logs = logs
        self.group = group
        self.retentionDays = retentionDays
        self.logger = logger
    }

    /// Makes sure the stream (and the group) exist after PutLogEvents answered ResourceNotFoundException.
    public func provision(stream: String) async throws {
        do {
            controlPlaneCalls += 1
            if try await logs.createLogStream(group: group, stream: stream) {
                logger.info("log stream created", metadata: ["cwl.group": "\(group)", "cwl.stream": "\(stream)"])
            }
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {
            controlPlaneCalls += 1
            if try await logs.createLogGroup(group) {
                logger.info("log group created", metadata: ["cwl.group": "\(group)"])
                if let retentionDays {
                    controlPlaneCalls += 1
                    try await logs.putRetentionPolicy(group: group, days: retentionDays)
                    logger.info("log group retention set", metadata: ["cwl.group": "\(group)", "cwl.retention_days": "\(retentionDays)"])
                }
            }
            controlPlaneCalls += 1
            try await logs.createLogStream(group: group, stream: stream)
            logger.info("log stream created", metadata: ["cwl.group": "\(group)", "cwl.stream": "\(stream)"])
        }
        ready.insert(stream)
    }
}
