import Synchronization

/// Results of a group of checks as each becomes final, so a group stopped by its deadline still reports the
/// checks it finished.
final class PartialResults: Sendable {
    private let results = Mutex<[String: CheckResult]>([:])

    /// Creates an empty set.
    init() {}

    /// Records a final result.
    func record(_ result: CheckResult) { results.withLock { $0[result.name] = result } }

    /// The result of a check, if it finished.
    subscript(name: String) -> CheckResult? { results.withLock { $0[name] } }
}
