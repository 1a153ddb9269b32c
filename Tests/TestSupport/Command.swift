import Foundation

/// Runs helper commands for tests, bounded in time and stopped by PID.
public enum Command {
    /// A command that failed or ran too long.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        /// Creates a failure.
        public init(description: String) { self.description = description }
    }

    /// Runs `arguments` (looked up in `PATH` unless absolute; stdin from a file if given), kills it by PID after
    /// `timeout` seconds, and throws unless it exited 0; returns its stdout. Output goes through files, so any
    /// amount is fine.
    @discardableResult
    public static func run(_ arguments: [String], stdin: String? = nil, timeout: Double = 120) throws -> Data {
        let scratch = try TemporaryDirectory(prefix: "clock-agent-command")
        _ = FileManager.default.createFile(atPath: scratch.file("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.file("err"), contents: nil)
        let process = Process()
        if arguments[0].hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: arguments[0])
            process.arguments = Array(arguments.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("out")))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("err")))
        if let stdin { process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdin)) }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let output = try Data(contentsOf: URL(fileURLWithPath: scratch.file("out")))
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let errors = (try? String(contentsOfFile: scratch.file("err"), encoding: .utf8)) ?? ""
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(errors)")
        }
        return output
    }
}
