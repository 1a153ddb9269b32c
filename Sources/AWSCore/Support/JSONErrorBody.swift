import FoundationEssentials

/// The error body of JSON 1.1 services: `{"__type": "...", "message": "..."}`.
struct JSONErrorBody: Decodable {
    var type: String?
    var lowerMessage: String?
    var upperMessage: String?

    enum CodingKeys: String, CodingKey {
        case type = "__type"
        case lowerMessage = "message"
        case upperMessage = "Message"
    }

    var code: String? { type.map(Self.normalise) }
    var message: String? { lowerMessage ?? upperMessage }

    static func decode(_ body: [UInt8]) -> JSONErrorBody? {
        try? JSONDecoder().decode(JSONErrorBody.self, from: Data(body))
    }

    /// Strips a namespace prefix up to `#` and anything from `:` on, as the AWS SDKs do
    /// (`aws.protocols#ThrottlingException:http://…` → `ThrottlingException`).
    static func normalise(_ type: String) -> String {
        var code = Substring(type)
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        return String(code)
    }
}
