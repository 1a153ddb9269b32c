/// How a drain ended.
public struct DrainOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Everything written before the drain began was accepted.
    public var complete: Bool
    /// Per source, the bytes not accepted when the drain ended (-1: unknown, e.g. journal entries in flight).
    public var unshippedBytes: [String: Int64]

    /// Creates an outcome.
    public init(complete: Bool, unshippedBytes: [String: Int64]) {
        self.complete = complete
        self.unshippedBytes = unshippedBytes
    }

    public var description: String {
        guard !complete else { return "everything shipped" }
        let left = unshippedBytes.sorted { $0.key < $1.key }.map {
            "\($0.key): \($0.value < 0 ? "some events" : "\($0.value) bytes")"
        }
        return "not everything shipped before the deadline (\(left.joined(separator: ", ")))"
    }
}
