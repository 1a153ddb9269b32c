import Synchronization

/// Hands one value to a task so that the task owns it alone: `take()` moves it out, and the closure that captured
/// the parcel keeps nothing of it (a captured value would live as long as the task's closure context).
final class Parcel<Value: Sendable>: Sendable {
    private let value: Mutex<Value?>

    /// Wraps a value.
    init(_ value: sending Value) { self.value = Mutex(value) }

    /// The value, moved out (call once).
    func take() -> Value {
        guard let value = value.withLock({ $0.take() }) else { preconditionFailure("a parcel was opened twice") }
        return value
    }
}
