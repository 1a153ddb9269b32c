import Foundation

/// Runs `body` on a thread of its own (never on the Swift concurrency pool: `JournalReader.wait` blocks).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
