import AWSCore
import AgentStatus
import FoundationEssentials

/// What the running agent says about itself over its status socket.
enum AgentLookup: Sendable {
    /// The agent answered.
    case running(StatusReport)
    /// No agent listens (the socket is missing or nobody accepts).
    case notRunning(String)
    /// Something answered but not with a report.
    case failed(String)

    /// `GET /status` on the socket, on a thread of its own (the client blocks, bounded by `timeoutSeconds`).
    static func fetch(socket: String, timeoutSeconds: Int) async -> AgentLookup {
        await withCheckedContinuation { continuation in
            DedicatedThread.start {
                continuation.resume(returning: fetchBlocking(socket: socket, timeoutSeconds: timeoutSeconds))
            }
        }
    }

    private static func fetchBlocking(socket: String, timeoutSeconds: Int) -> AgentLookup {
        let status: Int
        let body: [UInt8]
        do {
            (status, body) = try StatusClient.get("/status", socket: socket, timeoutSeconds: timeoutSeconds)
        } catch {
            let text = "\(error)"
            return text.contains("no clock-agent is running") ? .notRunning(text) : .failed(text)
        }
        guard status == 200 else {
            return .failed("the agent answered HTTP \(status) on \(socket)")
        }
        do {
            return .running(try JSONDecoder().decode(StatusReport.self, from: Data(body)))
        } catch {
            return .failed("the agent's status report on \(socket) could not be read: \(error)")
        }
    }

    /// The report, when the agent answered.
    var report: StatusReport? {
        if case .running(let report) = self { return report }
        return nil
    }
}
