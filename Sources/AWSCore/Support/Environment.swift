#if canImport(Glibc)
    import Glibc
#endif

/// A snapshot of environment variables, so that the AWS conventions (`AWS_REGION`, `AWS_ENDPOINT_URL_*`, ...) are
/// read in one place and tests can pass their own.
public struct Environment: Sendable {
    /// The variables.
    public var values: [String: String]

    /// Creates an environment from a dictionary.
    public init(_ values: [String: String] = [:]) { self.values = values }

    /// The process environment.
    public static func process() -> Environment {
        var values: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return Environment(values)
    }

    /// The value of a variable; empty values count as unset.
    public subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// Whether a variable is set to a true value (`true`, `1`, `yes`, any case).
    public func isTrue(_ name: String) -> Bool {
        guard let value = self[name]?.lowercasedASCII() else { return false }
        return value == "true" || value == "1" || value == "yes"
    }

    /// The region from `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    public var region: String? { self["AWS_REGION"] ?? self["AWS_DEFAULT_REGION"] }

    /// The CA bundle replacing the system's trust store (`AWS_CA_BUNDLE`).
    public var caBundle: String? { self["AWS_CA_BUNDLE"] }
}
