/// Capped exponential backoff with full jitter, and which failures deserve another try.
///
/// Full jitter as in "Exponential Backoff And Jitter" (AWS Architecture Blog): the delay before retry `n` is
/// uniform in `[0, min(cap, base × 2ⁿ)]`. Throttling, 5xx, timeouts and connection failures are retried; other
/// 4xx are not, because sending the same request again can't change the answer.
public struct RetryPolicy: Sendable {
    /// Attempts in all, including the first; `Int.max` for "as long as it takes".
    public var maxAttempts: Int
    /// The first backoff ceiling, in seconds.
    public var baseDelay: Double
    /// The largest backoff ceiling, in seconds.
    public var maxDelay: Double

    /// Creates a policy.
    public init(maxAttempts: Int, baseDelay: Double, maxDelay: Double) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// API calls: 5 attempts, 0.2 s doubling up to 20 s.
    public static let standard = RetryPolicy(maxAttempts: 5, baseDelay: 0.2, maxDelay: 20)

    /// One attempt only.
    public static let none = RetryPolicy(maxAttempts: 1, baseDelay: 0, maxDelay: 0)

    /// The delay before retry number `retry` (1 for the first retry).
    public func delay(beforeRetry retry: Int, random: Double = Double.random(in: 0..<1)) -> Double {
        let exponent = min(max(retry - 1, 0), 30)
        let ceiling = min(maxDelay, baseDelay * Double(1 << exponent))
        return ceiling * random
    }

    /// Sleeps for the delay before retry `retry` (calling `announce` first, to log the retry) and returns true;
    /// returns false at once when waking up would come after `deadline` (the caller then gives up with its own error).
    public func pause(
        beforeRetry retry: Int, deadline: ContinuousClock.Instant, announce: () -> Void = {}
    ) async throws -> Bool {
        let wake = ContinuousClock.now.advanced(by: .milliseconds(Int(delay(beforeRetry: retry) * 1000)))
        guard wake < deadline else { return false }
        announce()
        try await Task.sleep(until: wake, clock: .continuous)
        return true
    }

    /// AWS error codes that mean "slow down" in any of the agent's services.
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException",
    ]

    /// Codes for transient server-side trouble that may arrive with a 4xx status.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "ServiceUnavailable", "ServiceUnavailableException",
        "InternalError", "InternalFailure", "ResourceContention", "OperationAbortedException",
    ]

    /// libcurl errors worth retrying: name resolution (at boot DNS may not be up yet), connect failures, timeouts,
    /// resets, empty answers, partial transfers and TLS handshake failures caused by a dropped connection.
    /// Certificate verification failures (60) are not transient and are not listed.
    public static let transientCurlCodes: Set<String> = [
        "curl 5", "curl 6", "curl 7", "curl 18", "curl 28", "curl 35", "curl 52", "curl 55", "curl 56", "curl 92",
    ]

    /// Whether an error is worth another attempt.
    public static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? AWSError else { return false }
        switch error.kind {
        case .transport:
            return error.code.map { transientCurlCodes.contains($0) } ?? true
        case .service:
            if let code = error.code, throttlingCodes.contains(code) || transientCodes.contains(code) { return true }
            if let status = error.httpStatus, status >= 500 || status == 429 { return true }
            return false
        case .metadata:
            return error.isTimeout || (error.httpStatus.map { $0 >= 500 } ?? false)
        case .credentials, .invalidResponse, .invalidInput, .cancelled:
            return false
        }
    }

    /// Whether the error says "slow down" (for metrics and logs).
    public static func isThrottling(_ error: any Error) -> Bool {
        guard let error = error as? AWSError, let code = error.code else { return false }
        return throttlingCodes.contains(code) || error.httpStatus == 429
    }
}
