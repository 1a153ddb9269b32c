/// The outcome of one doctor check: its name, verdict, one line of detail and one line of what to do.
public struct CheckResult: Sendable, Equatable {
    /// The check's stable name, e.g. `imds`, `cloudwatch`, `disk` (see `DoctorReport` for the list).
    public var name: String
    /// The verdict.
    public var status: CheckStatus
    /// What was found, on one line.
    public var detail: String
    /// What to do about it, on one line; empty when there is nothing to do.
    public var hint: String

    /// Creates a result; line breaks in `detail` and `hint` are replaced by spaces so each stays one line.
    public init(name: String, status: CheckStatus, detail: String, hint: String = "") {
        self.name = name
        self.status = status
        self.detail = Self.oneLine(detail)
        self.hint = Self.oneLine(hint)
    }

    /// A check that doesn't apply here, or whose prerequisite failed.
    public static func skip(_ name: String, _ detail: String, hint: String = "") -> CheckResult {
        CheckResult(name: name, status: .skip, detail: detail, hint: hint)
    }

    /// The text with line breaks and tabs replaced by spaces.
    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" ? " " : $0 })
    }
}
