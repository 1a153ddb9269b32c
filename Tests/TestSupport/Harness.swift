import AWSCore
import Foundation

/// The Python test harness (`Tests/harness/run.py`): moto with IAM authorization on, extended with the lifecycle
/// calls, the IMDSv2 fake and, optionally, the strict CloudWatch sink — all on loopback, stopped by PID.
public final class Harness: @unchecked Sendable {
    /// The harness.json fields the tests use.
    public struct Info: Decodable, Sendable {
        public struct Keys: Decodable, Sendable {
            public var access_key_id: String
            public var secret_access_key: String
        }
        public var moto: String
        public var imds: String
        public var control: String
        public var sink: String?
        public var region: String
        public var account: String
        public var bucket: String
        public var artifact_key: String?
        public var artifact_sha256: String?
        public var instance_id: String
        public var az: String
        public var asg: String
        public var launch_hook: String
        public var terminate_hook: String
        public var log_group: String
        public var role: String
        public var user: Keys
        public var admin: Keys
    }

    /// The working directory (harness.json, harness.log).
    public let directory: TemporaryDirectory
    /// harness.json.
    public let info: Info
    private let server: ServerProcess

    /// Starts a harness; waits (bounded) until it is ready.
    public init(artifact: String? = nil, artifactKey: String? = nil, sink: Bool = false) throws {
        directory = try TemporaryDirectory(prefix: "clock-agent-harness")
        var arguments = ["up", "--workdir", directory.path]
        if let artifact { arguments += ["--artifact", artifact] }
        if let artifactKey { arguments += ["--artifact-key", artifactKey] }
        if sink { arguments.append("--sink") }
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        environment["PYTHONUNBUFFERED"] = "1"
        server = try ServerProcess(
            script: "harness/run.py", arguments: arguments, environment: environment, timeout: 60)
        info = try JSONDecoder().decode(
            Info.self, from: Data(contentsOf: URL(fileURLWithPath: directory.file("harness.json"))))
    }

    /// Starts a harness on a thread of its own and waits for it without holding a thread of the cooperative pool
    /// (booting moto takes seconds; tests blocking the pool's few threads that long stall every other test).
    public static func start(
        artifact: String? = nil, artifactKey: String? = nil, sink: Bool = false
    ) async throws
        -> Harness
    {
        try await DedicatedThread.run { () throws(any Error) -> Harness in
            try Harness(artifact: artifact, artifactKey: artifactKey, sink: sink)
        }
    }

    /// Stops the harness by its PID.
    public func stop() { server.stop() }

    deinit { server.stop() }

    /// Endpoints for the agent's clients: everything to moto, CloudWatch Logs to the sink when there is one.
    public func environment(useSink: Bool = false, extra: [String: String] = [:]) -> Environment {
        var values = [
            "AWS_ENDPOINT_URL": info.moto,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": info.imds,
            "AWS_REGION": info.region,
        ]
        if useSink, let sink = info.sink { values["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = sink }
        values.merge(extra) { $1 }
        return Environment(values)
    }

    /// The least-privilege user's credentials.
    public var userCredentials: Credentials {
        Credentials(accessKeyID: info.user.access_key_id, secretAccessKey: info.user.secret_access_key)
    }

    /// Calls the control API; returns the decoded JSON answer.
    @discardableResult
    public func control(_ method: String, _ path: String, _ body: Any? = nil) throws -> Any {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed]) }
        return try Self.curlJSON(method: method, url: info.control + path, body: data)
    }

    /// Runs `Tests/harness/admin.py` (boto3 with admin credentials) and returns its stdout.
    @discardableResult
    public func admin(_ arguments: [String]) throws -> Data {
        try Command.run(
            [
                "python3", ServerProcess.testsDirectory.appendingPathComponent("harness/admin.py").path, "--harness",
                directory.file("harness.json"),
            ] + arguments)
    }

    /// `admin(_:)` on a thread of its own (a Python start-up and boto3 call: most of a second under load).
    @discardableResult
    public func admin(_ arguments: [String]) async throws -> Data {
        try await DedicatedThread.run { () throws(any Error) -> Data in try self.admin(arguments) }
    }

    /// `logEvents(group:stream:fromSink:)` on a thread of its own.
    public func logEvents(
        group: String, stream: String, fromSink: Bool = false
    ) async throws -> [(timestamp: Int64, message: String)] {
        try await DedicatedThread.run { () throws(any Error) -> [(timestamp: Int64, message: String)] in
            try self.logEvents(group: group, stream: stream, fromSink: fromSink)
        }
    }

    /// Events in a stream, read with boto3.
    public func logEvents(
        group: String, stream: String, fromSink: Bool = false
    ) throws -> [(timestamp: Int64, message: String)] {
        let data = try admin((fromSink ? ["--sink"] : []) + ["log-events", group, stream])
        let list = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        return list.map { (($0["timestamp"] as! NSNumber).int64Value, $0["message"] as! String) }
    }

    static func curlJSON(method: String, url: String, body: Data?) throws -> Any {
        var arguments = ["curl", "-sS", "--max-time", "30", "-X", method, url, "-w", "\n%{http_code}"]
        if let body {
            arguments += [
                "-H", "Content-Type: application/json", "--data-binary", String(decoding: body, as: UTF8.self),
            ]
        }
        let output = String(decoding: try Command.run(arguments), as: UTF8.self)
        guard let newline = output.lastIndex(of: "\n"), let status = Int(output[output.index(after: newline)...]) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "control \(url): no status"])
        }
        let text = output[..<newline]
        guard (200..<300).contains(status) else {
            throw CocoaError(
                .fileReadUnknown,
                userInfo: [NSLocalizedDescriptionKey: "control \(method) \(url) -> \(status): \(text)"])
        }
        return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }
}
