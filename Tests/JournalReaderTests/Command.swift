import Foundation

/// Runs helper commands for the journal tests, bounded in time.
enum Command {
    /// A command that failed or ran too long.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments` (stdin from a file if given), kills it by PID after `timeout` seconds, and throws unless it
    /// exited 0; returns its stdout.
    @discardableResult
    static func run(_ arguments: [String], stdin: String? = nil, timeout: Double = 30) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        if let stdin { process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdin)) }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        // Small outputs only: read after exit (the pipes' buffers hold them).
        while process.isRunning, Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(stderr)")
        }
        return stdout
    }
}

/// Runs `body` on a thread of its own (never on the Swift concurrency pool: `JournalReader.wait` blocks).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
